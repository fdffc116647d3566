import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inventoryDocument, inventoryReference, type JsonSchema } from '../../src/cli/inventory-docs';
import { inventoryJsonSchema } from '../../src/inventory/schema';

const ROOT = join(__dirname, '../..');
const FILE = join(ROOT, 'docs/inventory.md');
/** Prettier's command line: its API loads itself with a dynamic import, which Jest's CommonJS cannot run. */
const PRETTIER = join(ROOT, 'node_modules/prettier/bin/prettier.cjs');

/** What `npm run docs:inventory` would write: the generated part anew, then Prettier, as the script runs it. */
function regenerated(current: string, schema?: JsonSchema): string {
  return execFileSync(process.execPath, [PRETTIER, '--stdin-filepath', FILE], {
    cwd: ROOT,
    input: inventoryDocument(current, schema),
    encoding: 'utf8',
  });
}

describe('docs/inventory.md', () => {
  it('is committed in step with the zod schema', () => {
    const committed = readFileSync(FILE, 'utf8');
    if (committed !== regenerated(committed)) {
      throw new Error(
        'docs/inventory.md is out of date with src/inventory: regenerate it with `npm run docs:inventory`',
      );
    }
  });

  it('lists every field and every kind of the schema, a new one included', () => {
    const schema = structuredClone(inventoryJsonSchema()) as JsonSchema;
    const credential = schema.properties?.credentials?.items;
    const targets = credential?.properties?.targets?.items?.oneOf;
    if (!credential?.properties || !targets) throw new Error('the schema has no credentials[].targets');
    credential.properties.ticket = { type: 'string', description: 'change ticket of the credential' };
    targets.push({
      type: 'object',
      properties: { kind: { type: 'string', const: 'example-new-target' }, bucket: { type: 'string' } },
      required: ['kind', 'bucket'],
    });
    const reference = inventoryReference(schema);
    expect(reference).toContain('| `ticket` | text | optional | change ticket of the credential |');
    expect(reference).toContain('### Target: `example-new-target`');
    expect(reference).toContain('| `bucket` | text | required |');

    const committed = readFileSync(FILE, 'utf8');
    expect(regenerated(committed, schema)).not.toEqual(committed);
    for (const field of [
      'policy.every',
      'providers.github.<name>.apiUrl',
      'selectedRepositories',
      'publicKey',
    ]) {
      expect(committed).toContain(`\`${field}\``);
    }
  });

  it('keeps the text written by hand around the generated part', () => {
    const text = `# Title\n\nby hand\n\n${'<!-- BEGIN GENERATED: npm run docs:inventory writes this part from the schema -->'}\nstale\n<!-- END GENERATED -->\n\nafter\n`;
    const document = inventoryDocument(text);
    expect(document.startsWith('# Title\n\nby hand\n\n<!-- BEGIN GENERATED')).toBe(true);
    expect(document).not.toContain('stale');
    expect(document.endsWith('<!-- END GENERATED -->\n\nafter\n')).toBe(true);
    expect(() => inventoryDocument('# no markers\n')).toThrow(/must hold the lines/);
  });
});
