// js-yaml 4 ships no types; these are the parts src/inventory/yaml-fast.ts uses.
declare module 'js-yaml' {
  interface TypeOptions {
    kind: 'scalar';
    resolve: (data: string) => boolean;
    construct: (data: string) => unknown;
  }
  export interface Type {
    readonly tag: string;
  }
  export const Type: new (tag: string, options: TypeOptions) => Type;
  export interface Schema {
    extend(definition: { implicit?: Type[] }): Schema;
  }
  export const FAILSAFE_SCHEMA: Schema;
  export function load(text: string, options?: { schema?: Schema }): unknown;
}
