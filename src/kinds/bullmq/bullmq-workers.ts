import { Queue } from 'bullmq';
import type { QueueKeys } from '../../queue/queue-keys.js';
import type { RedisClient } from '../../redis/redis-connection.js';

/**
 * The workers BullMQ itself knows for a queue, instrumented or not: each BullMQ worker names its
 * blocking connection `<prefix>:<base64 queue>:w:<worker name>`, and `Queue.getWorkers()` finds
 * them in `CLIENT LIST`. `count: null` when the server refuses CLIENT LIST (some managed Redis).
 * Costs one CLIENT LIST (O(connections)): for `status` and `doctor`, not for every scrape.
 */
export type ConnectedWorkers = { count: number; names: string[] } | { count: null; error: string };

export async function connectedBullmqWorkers(
  redis: RedisClient,
  keys: QueueKeys,
): Promise<ConnectedWorkers> {
  const queue = new Queue(keys.queue, {
    connection: redis,
    prefix: keys.prefix,
    skipMetasUpdate: true,
  });
  try {
    const workers = await queue.getWorkers();
    return {
      count: workers.length,
      names: workers.map((worker) => String(worker.rawname ?? '').replace(/^.*?:w:/, '')),
    };
  } catch (error) {
    return { count: null, error: `CLIENT LIST is not allowed: ${(error as Error).message}` };
  } finally {
    // The connection is the caller's: closing the queue only drops its listeners on it.
    void queue.close().catch(() => undefined);
  }
}
