/**
 * The hash tag of a key prefix: the text between the first `{` and the next `}`, when not empty —
 * what Redis Cluster hashes instead of the whole key.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}
