import { duplicateRedis, type RedisClient } from '../../redis/redis-connection.js';
import { celeryEventsPattern, decodeCeleryEvents } from './celery-events.js';
import type { CeleryEventState } from './celery-event-state.js';

/** The database a client talks to (`/<db>` of its URL), 0 on a Cluster or when unset. */
function databaseOf(redis: RedisClient): number {
  const db = (redis.options as { db?: number }).db;
  return typeof db === 'number' && Number.isInteger(db) ? db : 0;
}

/**
 * Reads the Celery events of one Redis database into a {@link CeleryEventState}: one pub/sub
 * connection of its own, PSUBSCRIBE `/<db>.celeryev/*`, read-only. ioredis reconnects and
 * subscribes again after a connection loss; events published meanwhile are lost (pub/sub keeps
 * none), which the state absorbs (the next heartbeats say what runs). `close()` is idempotent.
 */
export class CeleryEventListener {
  private readonly connection: RedisClient;
  private closed = false;
  /** Resolves once subscribed (rejects when the first subscription failed). */
  readonly ready: Promise<void>;
  /** Messages received, and those that carried no readable event. */
  received = 0;
  unreadable = 0;

  constructor(
    redis: RedisClient,
    private readonly state: CeleryEventState,
    onError: (error: Error) => void = () => undefined,
  ) {
    this.connection = duplicateRedis(redis, 'qscale:celery-events');
    this.connection.on('error', (error: Error) => {
      if (!this.closed) onError(error);
    });
    this.connection.on('pmessage', (_pattern: string, _channel: string, message: string) => {
      this.received++;
      const events = decodeCeleryEvents(message);
      if (events.length === 0) this.unreadable++;
      for (const event of events) this.state.ingest(event);
    });
    this.ready = this.connection
      .psubscribe(celeryEventsPattern(databaseOf(redis)))
      .then(() => undefined);
    this.ready.catch((error: unknown) => {
      if (!this.closed) onError(error as Error);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connection.disconnect();
  }
}
