import { Queue } from 'bullmq';
import type { TestRedisServer } from './redis-server.js';

/** A queue name no other test uses: `<prefix>_<6 random characters>`. */
export function uniqueQueueName(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A BullMQ queue on the test's Redis, for adding jobs directly, and the clean-up that obliterates
 * it. Connection errors are expected in tests that stop Redis and are not printed.
 */
export function openTestQueue(
  redis: TestRedisServer,
  name: string,
  prefix = 'bull',
): { queue: Queue; close: () => Promise<void> } {
  const connection = redis.client();
  const queue = new Queue(name, { connection, prefix });
  queue.on('error', () => undefined);
  return {
    queue,
    close: async () => {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}
