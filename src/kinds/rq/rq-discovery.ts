import { queueName } from '../../config/setting-types.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import { matchesPattern, type QueuePattern } from '../queue-kind.js';

/**
 * The RQ queues whose names match the pattern: RQ lists every queue it has seen in the set
 * `rq:queues` (of `rq:queue:<name>` keys). Read-only, one SMEMBERS.
 */
export async function discoverRqQueues(
  redis: RedisClient,
  pattern: QueuePattern,
  limit: number,
): Promise<string[]> {
  const start = `${pattern.prefix}:queue:`;
  const members = await redis.smembers(`${pattern.prefix}:queues`);
  return members
    .filter((key) => key.startsWith(start))
    .map((key) => key.slice(start.length))
    .filter((name) => queueName.safeParse(name).success && matchesPattern(name, pattern.pattern))
    .sort()
    .slice(0, limit);
}
