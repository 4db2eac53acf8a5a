import type { QueueKeys } from '../../queue/queue-keys.js';
import { duplicateRedis, type RedisClient } from '../../redis/redis-connection.js';
import type { QueueWatch } from '../driver.js';

/**
 * Wakes on BullMQ's events stream: a blocking XREAD returns as soon as a job is added (or anything
 * else happens), and at the latest after `blockMs` (delayed jobs becoming due add no event).
 */
export class BullmqWatch implements QueueWatch {
  private readonly connection: RedisClient;
  private lastId?: string;
  private closed = false;

  constructor(
    redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly blockMs: number,
  ) {
    // Blocking reads need a connection of their own.
    this.connection = duplicateRedis(redis, `qscale:watch:${keys.queue}`);
    this.connection.on('error', () => undefined);
  }

  async ready(): Promise<void> {
    if (this.lastId !== undefined) return;
    // Start after the newest event, so nothing that happens from now on is missed.
    const newest = (
      await this.connection.xrevrange(this.keys.bull('events'), '+', '-', 'COUNT', 1)
    )[0];
    this.lastId = newest?.[0] ?? '0-0';
  }

  async next(): Promise<void> {
    await this.ready();
    const reply = (await this.connection.xread(
      'BLOCK',
      this.blockMs,
      'STREAMS',
      this.keys.bull('events'),
      this.lastId!,
    )) as [string, [string, string[]][]][] | null;
    const entries = reply?.[0]?.[1];
    if (entries && entries.length > 0) this.lastId = entries[entries.length - 1]![0];
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.connection.disconnect();
    }
    return Promise.resolve();
  }
}
