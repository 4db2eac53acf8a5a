import type { QueueKeys } from '../../queue/queue-keys.js';
import type { QueueSnapshot } from '../../queue/queue-snapshot.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import type { QueueReader, ReaderOptions } from '../driver.js';
import { useCeleryEvents, type CeleryEvents } from './celery-events-hub.js';
import { CeleryKeys } from './celery-keys.js';
import { celerySampleArgs, type CelerySampleReply } from './celery-sample.js';
import { celerySnapshot, CeleryQueueState } from './celery-snapshot.js';

/**
 * Reads one Celery queue: kombu's lists and held messages in its share of one script run per
 * sample (batched with the other Celery queues), and the
 * events of the queue's database, which one shared subscription gathers between samples.
 */
export class CeleryReader implements QueueReader {
  private readonly events: CeleryEvents;
  private readonly state = new CeleryQueueState();
  private readonly celeryKeys: CeleryKeys;

  constructor(
    redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly options: ReaderOptions,
  ) {
    this.celeryKeys = new CeleryKeys(keys.queue);
    this.events = useCeleryEvents(redis, options.buckets);
    this.events.ready.catch(() => undefined);
  }

  args(): { keys: string[]; args: (string | number)[] } {
    return celerySampleArgs(this.celeryKeys);
  }

  decode(reply: unknown, now: number): QueueSnapshot {
    return celerySnapshot(
      this.keys.queue,
      now,
      reply as CelerySampleReply,
      this.events.state,
      this.state,
      this.options.maxWorkers,
    );
  }

  close(): Promise<void> {
    return this.events.release();
  }
}
