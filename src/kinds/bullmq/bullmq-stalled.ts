import type { QueueKeys } from '../../queue/queue-keys.js';
import type { RedisClient } from '../../redis/redis-connection.js';

/**
 * Stalled-job recoveries since `since` (epoch ms): BullMQ writes a `stalled` event when it takes a
 * job back from a worker that stopped renewing its lock. The events stream keeps the latest
 * ~10 000 events.
 */
export async function bullmqStalledSince(
  redis: RedisClient,
  keys: QueueKeys,
  since: number,
): Promise<number> {
  const events = await redis.xrevrange(keys.bull('events'), '+', `${since}-0`, 'COUNT', 10_000);
  return events.filter(([, fields]) => fields[0] === 'event' && fields[1] === 'stalled').length;
}
