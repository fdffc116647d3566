/** The error `attempt` fails with; the test fails if it succeeds instead. */
export async function failure(attempt: Promise<unknown>): Promise<Error> {
  const outcome = await attempt.then(
    () => undefined,
    (error: unknown) => error as Error,
  );
  if (outcome === undefined) throw new Error('expected a failure, but it succeeded');
  return outcome;
}
