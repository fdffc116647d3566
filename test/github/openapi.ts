import { readFileSync } from 'node:fs';

/**
 * The part of JSON Schema (OpenAPI 3.0 flavour) GitHub's description uses for the operations the simulator
 * serves: enough to check an answer's body field by field, and to name each field that does not match.
 */

export interface Schema {
  $ref?: string;
  type?: string;
  nullable?: boolean;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
}

interface MediaType {
  schema?: Schema;
}
interface Response {
  $ref?: string;
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId: string;
  responses: Record<string, Response>;
  requestBody?: { content: Record<string, MediaType> };
}
export interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; responses: Record<string, Response> };
}

export function loadGitHubDescription(): OpenApi {
  const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
  return JSON.parse(readFileSync(file, 'utf8')) as OpenApi;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Every way `value` fails `schema`, each as `path: problem`; empty when it conforms. */
export function problems(api: OpenApi, schema: Schema, value: unknown, path = '$'): string[] {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = api.components.schemas[name];
    if (target === undefined) return [`${path}: unknown schema ${schema.$ref}`];
    return problems(api, target, value, path);
  }
  if (value === null && schema.nullable === true) return [];
  if (schema.allOf !== undefined) return schema.allOf.flatMap((part) => problems(api, part, value, path));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined) {
    const matching = alternatives.filter((part) => problems(api, part, value, path).length === 0);
    return matching.length > 0 ? [] : [`${path}: matches none of ${alternatives.length} alternatives`];
  }
  const actual = typeOf(value);
  if (
    schema.type !== undefined &&
    schema.type !== actual &&
    !(schema.type === 'number' && actual === 'integer')
  ) {
    return [`${path}: expected ${schema.type}, found ${actual}`];
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    return [`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  }
  if (typeof value === 'string') return stringProblems(schema, value, path);
  if (Array.isArray(value)) {
    return schema.items === undefined
      ? []
      : value.flatMap((item, index) => problems(api, schema.items as Schema, item, `${path}[${index}]`));
  }
  if (actual === 'object') return objectProblems(api, schema, value as Record<string, unknown>, path);
  return [];
}

function stringProblems(schema: Schema, value: string, path: string): string[] {
  if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    return [`${path}: does not match ${schema.pattern}`];
  }
  if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) return [`${path}: not a date-time`];
  if (schema.format === 'uri' && !URL.canParse(value)) return [`${path}: not a URI`];
  return [];
}

function objectProblems(
  api: OpenApi,
  schema: Schema,
  value: Record<string, unknown>,
  path: string,
): string[] {
  const found = (schema.required ?? [])
    .filter((key) => !(key in value))
    .map((key) => `${path}.${key}: missing`);
  for (const [key, field] of Object.entries(value)) {
    const declared = schema.properties?.[key];
    if (declared !== undefined) found.push(...problems(api, declared, field, `${path}.${key}`));
    else if (schema.additionalProperties === false) found.push(`${path}.${key}: not allowed`);
    else if (typeof schema.additionalProperties === 'object') {
      found.push(...problems(api, schema.additionalProperties, field, `${path}.${key}`));
    }
  }
  return found;
}

/** The documented JSON schema of an operation's answer with this status; undefined when it has no body. */
export function responseSchema(
  api: OpenApi,
  method: string,
  route: string,
  status: number,
): { documented: boolean; schema: Schema | undefined } {
  const operation = api.paths[route]?.[method.toLowerCase()];
  if (operation === undefined) throw new Error(`GitHub documents no ${method} ${route}`);
  let response = operation.responses[String(status)];
  if (response?.$ref !== undefined) {
    response = api.components.responses[response.$ref.replace('#/components/responses/', '')];
  }
  if (response === undefined) {
    // Failures an operation does not list (401, 429, 5xx, ...) still come in GitHub's one error shape.
    return {
      documented: false,
      schema: status >= 400 ? { $ref: '#/components/schemas/basic-error' } : undefined,
    };
  }
  return { documented: true, schema: response.content?.['application/json']?.schema };
}

/** The documented JSON schema of an operation's request body, if it takes one. */
export function requestSchema(api: OpenApi, method: string, route: string): Schema | undefined {
  return api.paths[route]?.[method.toLowerCase()]?.requestBody?.content['application/json']?.schema;
}

/** An answered call as the contract checks see it (the simulator's `SimCall`). */
interface CheckedCall {
  method: string;
  route: string;
  request: Record<string, unknown> | undefined;
  status: number;
  body: unknown;
}

/** How each answer strays from the status and schema GitHub documents for its operation; empty when none. */
export function answerMismatches(api: OpenApi, calls: CheckedCall[]): string[] {
  return calls.flatMap((call) => {
    const where = `${call.method} ${call.route} ${call.status}`;
    const { documented, schema } = responseSchema(api, call.method, call.route, call.status);
    if (call.status < 400 && !documented) return [`${where}: status not documented`];
    if (schema === undefined) return call.body === undefined ? [] : [`${where}: documented without a body`];
    if (call.body === undefined) return [`${where}: no body`];
    return problems(api, schema, call.body).map((problem) => `${where}: ${problem}`);
  });
}

/** How each request body strays from the one GitHub documents for its operation; empty when none. */
export function requestMismatches(api: OpenApi, calls: CheckedCall[]): string[] {
  return calls.flatMap((call) => {
    const schema = requestSchema(api, call.method, call.route);
    if (schema === undefined)
      return call.request === undefined ? [] : [`${call.method} ${call.route}: unexpected body`];
    return problems(api, schema, call.request ?? {}).map(
      (problem) => `${call.method} ${call.route}: ${problem}`,
    );
  });
}
