import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { loadInventory } from '../../src/inventory/load';

const EXAMPLE_TEXT = readFileSync(join(__dirname, '../../examples/rotator.yaml'), 'utf8');
const EXAMPLE: unknown = parse(EXAMPLE_TEXT);
/** Stands for a token pasted where it does not belong: no error may repeat it. */
const PASTED_TOKEN = 'glpat-PASTEDxTOKENx1234567890';

type Path = (string | number)[];
type Tree = Record<string | number, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null;
}

/** The path of every node below the root. */
function pathsIn(value: unknown, path: Path = []): Path[] {
  if (!isTree(value)) return [];
  const keys: (string | number)[] = Array.isArray(value)
    ? value.map((_, index) => index)
    : Object.keys(value);
  return keys.flatMap((key) => [[...path, key], ...pathsIn(value[key], [...path, key])]);
}

const anyValue = fc.oneof(
  fc.constant(PASTED_TOKEN),
  fc.constant({ token: PASTED_TOKEN }),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string(),
  fc.constantFrom('0', '0s', '15m', '1h30m', '7d', '-1d', 'production', 'gitlab-main', 'kv-production'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);

const change = fc.oneof(
  fc.constant({ type: 'delete' as const }),
  fc.record({ type: fc.constant('replace' as const), value: anyValue }),
  fc.record({
    type: fc.constant('add' as const),
    key: fc.string({ minLength: 1, maxLength: 12 }),
    value: anyValue,
  }),
  fc.constant({ type: 'duplicate' as const }),
);

const mutation = fc.record({ at: fc.constantFrom(...pathsIn(EXAMPLE)), change });
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

/** Applies one change at a path: delete it, replace it, add a key (or item) to it, or repeat it. */
function mutate(root: unknown, { at, change }: Mutation): void {
  const key = at[at.length - 1] as string | number;
  const parent = at
    .slice(0, -1)
    .reduce<unknown>((node, step) => (isTree(node) ? node[step] : undefined), root);
  if (!isTree(parent)) return;
  // Own entries only: `every` on an array that replaced an object is Array.prototype.every, not data.
  const node = Object.hasOwn(parent, key) ? parent[key] : undefined;
  switch (change.type) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else Reflect.deleteProperty(parent, key);
      break;
    case 'replace':
      parent[key] = change.value;
      break;
    case 'add':
      if (Array.isArray(node)) node.push(change.value);
      else if (isTree(node)) node[change.key] = change.value;
      break;
    case 'duplicate':
      if (Array.isArray(parent)) parent.splice(Number(key), 0, structuredClone(node));
      else parent[`${String(key)}-copy`] = structuredClone(node);
      break;
  }
}

/** The loader's whole contract: a valid inventory, or a list of errors that name paths and never values. */
function expectValidOrErrors(text: string): void {
  const result = loadInventory(text);
  if (result.ok) {
    expect(result.inventory.credentials.length).toBeGreaterThan(0);
    for (const credential of result.inventory.credentials)
      expect(typeof credential.policy.overlap).toBe('number');
    return;
  }
  expect(result.errors.length).toBeGreaterThan(0);
  // Past the first MAX_LISTED_ERRORS, one last line counts the rest.
  const listed = result.total === undefined ? result.errors : result.errors.slice(0, -1);
  const more = (result.total ?? 0) - listed.length;
  expect(result.errors.slice(listed.length)).toEqual(
    result.total === undefined ? [] : [`and ${more} more ${more === 1 ? 'error' : 'errors'}`],
  );
  for (const error of listed) {
    expect(error).toMatch(/^(\d+:\d+: )?\S[^\n]*: \S/);
    expect(error).not.toContain(PASTED_TOKEN);
  }
}

describe('the loader on randomly broken inventories', () => {
  it('returns a valid inventory or validation errors for any mutation of the example, never throwing', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const inventory = structuredClone(EXAMPLE);
        for (const each of mutations) mutate(inventory, each);
        expectValidOrErrors(stringify(inventory));
      }),
      { numRuns: 1000 },
    );
  });

  // Anywhere in the text, or in place of a value, where an alias, a tag or a pasted token does the most harm.
  const valueSpans = [...EXAMPLE_TEXT.matchAll(/: /g)].map((match) => {
    const from = match.index + 2;
    return { from, deleted: EXAMPLE_TEXT.indexOf('\n', from) - from };
  });
  const splicedInto = ({ from, deleted }: { from: number; deleted: number }, inserted: string) =>
    EXAMPLE_TEXT.slice(0, from) + inserted + EXAMPLE_TEXT.slice(from + deleted);

  it('does the same for YAML garbage spliced into the example text', () => {
    const yamlish = fc.string({
      unit: fc.constantFrom(
        ...[':', '-', '[', ']', '{', '}', '&a ', '*a', '*b', '!', '!!int ', '|', '>', '\n', ' ', '\t', '#'],
        ...['"', "'", '%', '@', '?', ',', 'x', '7'],
      ),
      maxLength: 12,
    });
    const span = fc.oneof(
      fc.record({ from: fc.nat(EXAMPLE_TEXT.length), deleted: fc.nat(20) }),
      fc.constantFrom(...valueSpans),
    );
    fc.assert(
      fc.property(span, yamlish, (where, inserted) => expectValidOrErrors(splicedInto(where, inserted))),
      { numRuns: 1000 },
    );
  });

  it('never repeats a token pasted in place of a value, however broken the YAML around it', () => {
    // Without ":", "?", "{" or a line break around it, the token stays a value: keys are named in errors.
    const around = fc.string({
      unit: fc.constantFrom(
        '[',
        ']',
        '"',
        "'",
        '|',
        '>',
        '!',
        '!!',
        '&a ',
        '*',
        '#',
        ' ',
        ',',
        '-',
        '%',
        '@',
        '`',
      ),
      maxLength: 4,
    });
    fc.assert(
      fc.property(fc.constantFrom(...valueSpans), around, around, (where, before, after) =>
        expectValidOrErrors(splicedInto(where, before + PASTED_TOKEN + after)),
      ),
      { numRuns: 500 },
    );
  });
});
