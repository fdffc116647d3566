import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { inventoryJsonSchema } from '../../src/inventory/schema';

describe('the JSON Schema editors use', () => {
  it('is committed as rotator.schema.json, in step with the zod schema', () => {
    const committed: unknown = JSON.parse(readFileSync(join(__dirname, '../../rotator.schema.json'), 'utf8'));
    if (!isDeepStrictEqual(committed, inventoryJsonSchema())) {
      throw new Error(
        'rotator.schema.json is out of date with src/inventory: regenerate it with `npm run schema`',
      );
    }
  });

  it('describes the inventory as written: durations as text, defaults shown, unknown keys refused', () => {
    const schema = inventoryJsonSchema();
    const credential = schema.properties?.credentials;
    expect(schema).toMatchObject({ additionalProperties: false, required: ['credentials'] });
    expect(credential).toMatchObject({
      items: {
        additionalProperties: false,
        properties: {
          policy: {
            properties: { every: { type: 'string', default: '24h' }, requireApproval: { default: false } },
          },
        },
      },
    });
  });
});
