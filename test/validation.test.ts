import { z } from 'zod';
import { ValidationError, formatPath, parseOrThrow } from '../src/validation';

describe('validation errors', () => {
  it('renders paths the way operators read them', () => {
    expect(formatPath(['credentials', 3, 'targets', 0, 'key'])).toBe('credentials[3].targets[0].key');
    expect(formatPath([0, 'id'])).toBe('[0].id');
    expect(formatPath([])).toBe('');
  });

  it('reports every problem at once, each with its path', () => {
    const schema = z
      .object({ id: z.string(), targets: z.array(z.object({ key: z.string() }).strict()) })
      .strict();
    const error = (() => {
      try {
        parseOrThrow(schema, { id: 7, targets: [{ key: 'A' }, { kye: 'B' }], extra: true }, 'the inventory');
      } catch (e) {
        return e;
      }
    })();

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      'id: Invalid input: expected string, received number',
      'targets[1].key: required: expected string',
      'targets[1].kye: unknown key',
      'extra: unknown key',
    ]);
    expect((error as Error).message).toMatch(/^the inventory is invalid:\n {2}id: /);
  });
});
