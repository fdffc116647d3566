/* Pure helpers for running work side by side; the workflow sandbox loads this file too, so no imports. */

/** Runs `each` for every item at once and waits for all, so that rollback never races a step still running. */
export async function inParallel<T, R>(
  items: readonly T[],
  each: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = await Promise.allSettled(items.map(each));
  return results.map((result) => {
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  });
}

/** Runs `each` for every item, at most `concurrency` at a time, in the order given. */
export async function inLanes<T>(
  items: readonly T[],
  concurrency: number,
  each: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  const lane = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) await each(next);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, lane));
}
