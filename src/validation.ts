import { z } from 'zod';
import { FAILURE_TYPES } from './failure-types';

/** Renders a zod issue path the way operators read it: `credentials[3].targets[0].key`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out === '' ? String(key) : `${out}.${String(key)}`;
  }, '');
}

/** One thing wrong with some input: where, and what was expected there. */
export interface Problem {
  path: PropertyKey[];
  message: string;
}

/**
 * Zod's issues as problems. Zod's messages name types and keys, never input values. An unknown-keys
 * issue becomes one problem per key at that key's own path, so each typo is named and located by itself;
 * a bad key of a record reports what its key schema expected.
 */
export function problemsIn(error: z.ZodError): Problem[] {
  return problemsOf(error.issues);
}

/** Where an option of a union failed at its own root: the input is not of that option's type at all. */
const wrongType = (issues: z.core.$ZodIssue[]) =>
  issues.every(
    (issue) =>
      issue.path.length === 0 && ['invalid_type', 'invalid_union', 'invalid_value'].includes(issue.code),
  );

function problemsOf(issues: z.core.$ZodIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    // A union of a duration and an object: the one option of the input's type names its own bad field.
    if (issue.code === 'invalid_union') {
      const typed = issue.errors.filter((option) => !wrongType(option));
      const [only] = typed;
      if (typed.length === 1 && only !== undefined)
        return problemsOf(only.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] })));
    }
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }));
    }
    const message =
      issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    return [{ path: issue.path, message }];
  });
}

export function formatProblem({ path, message }: Problem): string {
  return `${formatPath(path) || '(root)'}: ${message}`;
}

/** One line per issue, each naming its path. */
export function formatIssues(error: z.ZodError): string[] {
  return problemsIn(error).map(formatProblem);
}

/** Bad input at an edge of the system: names what was being read and every problem found in it. */
export class ValidationError extends Error {
  override readonly name = FAILURE_TYPES.validation;

  constructor(
    readonly subject: string,
    readonly issues: string[],
  ) {
    super(`${subject} is invalid:\n  ${issues.join('\n  ')}`);
  }
}

/** Zod's own wording, except for a missing field: "received undefined" reads like a bug, not a mistake. */
const errorMap: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined
    ? `required: expected ${issue.expected}`
    : undefined;

/** `schema.safeParse` with the wording above. */
export function validate<S extends z.ZodType>(schema: S, input: unknown) {
  return schema.safeParse(input, { error: errorMap });
}

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, subject: string): z.output<S> {
  const result = validate(schema, input);
  if (!result.success) throw new ValidationError(subject, formatIssues(result.error));
  return result.data;
}

export type Report = (path: PropertyKey[], message: string) => void;

/**
 * A rule relating fields of one object. Zod skips ordinary refinements once anything inside the object is
 * invalid; this one always runs, so contradictions are reported in the same pass as typos. The value it
 * sees may therefore be partly invalid, so the rule must read it defensively.
 */
export function crossFieldRule(rule: (value: unknown, report: Report) => void) {
  return z.superRefine<unknown>(
    (value, ctx) => rule(value, (path, message) => ctx.addIssue({ code: 'custom', path, message })),
    { when: () => true },
  );
}
