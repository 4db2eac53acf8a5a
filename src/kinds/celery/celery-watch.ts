import { duplicateRedis, type RedisClient } from '../../redis/redis-connection.js';
import type { QueueWatch } from '../driver.js';

/**
 * Wakes on Celery's task events (`/<db>.celeryev/task.*`: task-sent when a producer sends one with
 * `task_send_sent_event`, and the workers' task events), and at the latest after `blockMs`
 * (without events it is a plain timer).
 */
export class CeleryWatch implements QueueWatch {
  private readonly connection: RedisClient;
  private readonly subscribed: Promise<void>;
  private wake?: () => void;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    redis: RedisClient,
    private readonly blockMs: number,
  ) {
    this.connection = duplicateRedis(redis, 'qscale:watch:celery');
    this.connection.on('error', () => undefined);
    this.connection.on('pmessage', () => this.wake?.());
    const db = (redis.options as { db?: number }).db ?? 0;
    this.subscribed = this.connection.psubscribe(`/${db}.celeryev/task.*`).then(() => undefined);
    this.subscribed.catch(() => undefined);
  }

  ready(): Promise<void> {
    return this.subscribed;
  }

  next(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.timer = setTimeout(done, this.blockMs);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.connection.disconnect();
  }
}
