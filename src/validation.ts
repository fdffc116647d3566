import type { z } from 'zod';

/** Renders a zod issue path the way operators read it: `credentials[3].targets[0].key`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out === '' ? String(key) : `${out}.${String(key)}`;
  }, '');
}

/** One line per issue, each naming its path. Zod's messages name types and keys, never input values. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`);
}

/** Bad input at an edge of the system: names what was being read and every problem found in it. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';

  constructor(
    readonly subject: string,
    readonly issues: string[],
  ) {
    super(`${subject} is invalid:\n  ${issues.join('\n  ')}`);
  }
}

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, subject: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(subject, formatIssues(result.error));
  return result.data;
}
