import { isCluster, type RedisClient } from './redis-connection.js';

/**
 * The keys matching `match` (SCAN, in batches of `count`, every master of a Cluster), stopping
 * once `limit` distinct keys are found. Read-only; O(keys in the database) over all calls.
 */
export async function scanKeys(
  redis: RedisClient,
  match: string,
  limit: number,
  count = 1000,
): Promise<string[]> {
  const found = new Set<string>();
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', count);
      cursor = next;
      for (const key of keys) found.add(key);
      if (found.size >= limit) return [...found].slice(0, limit);
    } while (cursor !== '0');
  }
  return [...found];
}
