import type { RedisMemory } from '../queue/queue-snapshot.js';
import { isCluster, type RedisClient } from './redis-connection.js';

/** `used_memory` and `maxmemory` of an `INFO memory` answer (0 for a field it lacks). */
export function parseMemoryInfo(info: string): { usedBytes: number; maxBytes: number } {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}

/**
 * `INFO memory` of the Redis node, or of each master of a Cluster (in parallel): one read-only
 * command per node. Undefined when a node does not answer it (an ACL without INFO): the queue
 * numbers do not depend on it, so the sample goes on without. A Cluster client that does not know
 * its masters yet (the first read) learns them from the queues' read, `after`.
 */
export async function readRedisMemory(
  redis: RedisClient,
  after: Promise<unknown>,
): Promise<RedisMemory[] | undefined> {
  if (isCluster(redis) && redis.nodes('master').length === 0) {
    await after.catch(() => undefined);
  }
  const nodes = isCluster(redis)
    ? redis
        .nodes('master')
        .map((client) => ({ node: `${client.options.host}:${client.options.port}`, client }))
    : [{ node: '', client: redis }];
  if (nodes.length === 0) return undefined;
  try {
    return await Promise.all(
      nodes.map(async ({ node, client }) => ({
        node,
        ...parseMemoryInfo(await client.info('memory')),
      })),
    );
  } catch {
    return undefined;
  }
}
