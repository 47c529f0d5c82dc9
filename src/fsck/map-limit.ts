/**
 * Runs fn over items with at most `limit` calls in flight and returns results in input order.
 * fsck and chaos touch every block of every server; an unbounded Promise.all would open thousands
 * of sockets at once and time out against a busy cluster.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
