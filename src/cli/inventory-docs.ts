import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inventoryJsonSchema } from '../inventory/schema';

/*
 * The field reference of docs/inventory.md, written from the JSON Schema `rotator config schema` prints, so
 * that a new field or a new kind appears in the documentation as soon as it is in the zod schema.
 * `npm run docs:inventory` rewrites the part of docs/inventory.md between the two markers below; the rest of
 * that file is written by hand. test/docs/inventory-docs.test.ts fails when the committed file falls behind.
 */

export const BEGIN_MARKER =
  '<!-- BEGIN GENERATED: npm run docs:inventory writes this part from the schema -->';
export const END_MARKER = '<!-- END GENERATED -->';

/** The part of draft-07 JSON Schema that z.toJSONSchema writes for the inventory. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  title?: string;
}

/** Patterns worth a name; any other is shown as it is. */
const NAMED_PATTERNS: Record<string, string> = {
  '^[a-z0-9]+(?:-[a-z0-9]+)*$': 'slug',
  '^(?=\\d)(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?(?:\\d+s)?$': 'duration',
};

interface Row {
  field: string;
  type: string;
  required: string;
  meaning: string;
}

/** A section of the reference: a heading, a sentence, and a table of fields. */
interface Section {
  heading: string;
  intro: string;
  rows: Row[];
}

function code(text: string): string {
  return `\`${text}\``;
}

/** Table cells may hold neither a pipe nor a line break. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** A Vault reference is written `{ mount, path }` or `{ mount, path, key }`, whatever it is used for. */
function isVaultReference(schema: JsonSchema): boolean {
  const keys = Object.keys(schema.properties ?? {}).sort();
  return keys.join(',') === 'mount,path' || keys.join(',') === 'key,mount,path';
}

/** The branches of a union whose members are told apart by a constant `kind`, or undefined. */
function kindBranches(schema: JsonSchema): { kind: string; schema: JsonSchema }[] | undefined {
  const branches = schema.oneOf ?? schema.anyOf;
  if (!branches) return undefined;
  const kinds = branches.map((branch) => branch.properties?.kind?.const);
  if (!kinds.every((kind): kind is string => typeof kind === 'string')) return undefined;
  return branches.map((branch, index) => ({ kind: kinds[index] as string, schema: branch }));
}

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return code(JSON.stringify(schema.const));
  if (schema.enum) return `one of ${schema.enum.map((value) => code(String(value))).join(', ')}`;
  const kinds = kindBranches(schema);
  if (kinds) return `one of the kinds below: ${kinds.map(({ kind }) => code(kind)).join(', ')}`;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(', or ');
  if (isVaultReference(schema)) {
    return `Vault reference ${code(`{ ${Object.keys(schema.properties ?? {}).join(', ')} }`)}`;
  }
  const limits: string[] = [];
  if (schema.minimum !== undefined && schema.minimum > Number.MIN_SAFE_INTEGER) {
    limits.push(`from ${schema.minimum}`);
  }
  if (schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER)
    limits.push(`to ${schema.maximum}`);
  if (schema.minItems !== undefined && schema.minItems > 0) limits.push(`at least ${schema.minItems}`);
  if (schema.maxLength !== undefined) limits.push(`at most ${schema.maxLength} characters`);
  const suffix = limits.length > 0 ? ` (${limits.join(', ')})` : '';
  switch (schema.type) {
    case 'array':
      return `list${suffix} of ${schema.items ? typeOf(schema.items) : 'anything'}`;
    case 'string': {
      if (schema.format === 'uri') return `URL${suffix}`;
      if (schema.pattern) {
        const name = NAMED_PATTERNS[schema.pattern];
        return `${name ?? `text matching ${code(schema.pattern)}`}${suffix}`;
      }
      return `text${suffix}`;
    }
    case 'integer':
      return `whole number${suffix}`;
    case 'number':
      return `number${suffix}`;
    case 'boolean':
      return `${code('true')} or ${code('false')}`;
    case 'object':
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
        return 'map by name';
      return `object${suffix}`;
    default:
      return 'any value';
  }
}

function requiredOf(parent: JsonSchema, name: string, schema: JsonSchema): string {
  if (parent.required?.includes(name)) return 'required';
  if (schema.default === undefined) return 'optional';
  const value = schema.default;
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) {
    return Array.isArray(value) ? 'default: none' : 'default: its fields’ defaults';
  }
  return `default: ${code(typeof value === 'string' ? value : JSON.stringify(value))}`;
}

function row(parent: JsonSchema, path: string, name: string, schema: JsonSchema): Row {
  return {
    field: code(path),
    type: typeOf(schema),
    required: requiredOf(parent, name, schema),
    meaning:
      schema.description ??
      schema.items?.description ??
      (name === 'kind' ? 'which kind this entry is' : schema.type === 'array' ? 'each entry: below' : ''),
  };
}

/**
 * The fields of an object, one row each, and the objects nested in them (other than Vault references and
 * unions of kinds, which have a section of their own) flattened into the same table with dotted paths.
 */
function rowsOf(schema: JsonSchema, prefix: string): Row[] {
  const rows: Row[] = [];
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    rows.push(row(schema, path, name, field));
    if (field.type === 'object' && field.properties && !isVaultReference(field)) {
      rows.push(...rowsOf(field, `${path}.`));
    }
    const named = field.additionalProperties;
    if (typeof named === 'object' && named.properties) rows.push(...rowsOf(named, `${path}.<name>.`));
    if (field.type === 'array' && field.items?.properties && !kindBranches(field.items)) {
      rows.push(...rowsOf(field.items, `${path}[].`));
    }
  }
  return rows;
}

function table(rows: Row[]): string {
  const lines = ['| field | type | required or default | meaning |', '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${[r.field, r.type, r.required, r.meaning].map(cell).join(' | ')} |`);
  return lines.join('\n');
}

/** A group of kinds: its heading, what it is for (the union's description), then a section per kind. */
function kindGroup(heading: string, what: string, whose: string, union: JsonSchema | undefined): Section[] {
  return [
    {
      heading: `## ${heading}`,
      intro: `${whose}, ${union?.description ?? ''}, chosen by its \`kind\`.`,
      rows: [],
    },
    ...kindSections(union, what, 'kind'),
  ];
}

function kindSections(union: JsonSchema | undefined, what: string, field: string): Section[] {
  if (!union) return [];
  return (kindBranches(union) ?? []).map(({ kind, schema }) => ({
    heading: `### ${what}: ${code(kind)}`,
    intro: `\`${field}: ${kind}\`${schema.description ? `: ${schema.description}` : ''}.`,
    rows: rowsOf(schema, ''),
  }));
}

/** The generated part of docs/inventory.md, before Prettier formats it. */
export function inventoryReference(schema: JsonSchema = inventoryJsonSchema() as JsonSchema): string {
  const credential = schema.properties?.credentials?.items ?? {};
  const fields = credential.properties ?? {};
  const top: JsonSchema = { ...schema, properties: { ...schema.properties } };
  const credentialOnly: JsonSchema = {
    ...credential,
    properties: Object.fromEntries(Object.entries(fields).filter(([name]) => name !== 'policy')),
  };
  const policy = fields.policy;
  const sections: Section[] = [
    {
      heading: '## The top level',
      intro: 'The keys of the file itself.',
      rows: Object.entries(top.properties ?? {}).map(([name, field]) => row(schema, name, name, field)),
    },
    {
      heading: '## `providers`',
      intro: schema.properties?.providers?.description ?? '',
      rows: rowsOf(schema.properties?.providers ?? {}, 'providers.'),
    },
    {
      heading: '## `credentials[]`',
      intro: 'Each credential, one entry of the list `credentials`.',
      rows: Object.entries(credentialOnly.properties ?? {}).map(([name, field]) =>
        row(credential, name, name, field),
      ),
    },
    ...(policy
      ? [{ heading: '## `policy`', intro: 'A credential’s `policy`.', rows: rowsOf(policy, 'policy.') }]
      : []),
    ...kindGroup('Sources', 'Source', `A credential’s \`source\``, fields.source),
    ...kindGroup('Targets', 'Target', `Each entry of a credential’s \`targets\``, fields.targets?.items),
    ...kindGroup(
      'Dependents',
      'Dependent',
      `Each entry of a credential’s \`dependents\``,
      fields.dependents?.items,
    ),
    ...kindGroup(
      'Consumers',
      'Consumer',
      `Each entry of a credential’s \`consumers\``,
      fields.consumers?.items,
    ),
    ...kindGroup('Canaries', 'Canary', `A credential’s \`canary\``, fields.canary),
    {
      heading: '## `approvers[]`',
      intro: schema.properties?.approvers?.description ?? '',
      rows: rowsOf(schema.properties?.approvers?.items ?? {}, ''),
    },
    {
      heading: '## `discovery`',
      intro: schema.properties?.discovery?.description ?? '',
      rows: rowsOf(schema.properties?.discovery ?? {}, 'discovery.'),
    },
  ];
  return sections
    .map((section) =>
      [section.heading, section.intro, ...(section.rows.length > 0 ? [table(section.rows)] : [])]
        .filter((part) => part !== '')
        .join('\n\n'),
    )
    .join('\n\n');
}

/** The whole of docs/inventory.md: the hand-written text as it stands, with the generated part written anew. */
export function inventoryDocument(current: string, schema?: JsonSchema): string {
  const begin = current.indexOf(BEGIN_MARKER);
  const end = current.indexOf(END_MARKER);
  if (begin < 0 || end < begin) {
    throw new Error(`docs/inventory.md must hold the lines ${BEGIN_MARKER} and ${END_MARKER}, in that order`);
  }
  return `${current.slice(0, begin + BEGIN_MARKER.length)}\n\n${inventoryReference(schema)}\n\n${current.slice(end)}`;
}

// `npm run docs:inventory`, from the repository's root: rewrites docs/inventory.md; Prettier formats it afterwards.
if (require.main === module) {
  const file = join(process.cwd(), 'docs', 'inventory.md');
  writeFileSync(file, inventoryDocument(readFileSync(file, 'utf8')));
}
