import { DEFAULT_BUCKETS } from '../../config/config.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import { CeleryEventListener } from './celery-event-listener.js';
import { CeleryEventState } from './celery-event-state.js';

interface Hub {
  state: CeleryEventState;
  listener: CeleryEventListener;
  users: number;
}

/** One listener and one state per Redis client, shared by every Celery queue on it. */
const hubs = new WeakMap<RedisClient, Hub>();

/** The events of one Redis database as the Celery queues read on it share them. */
export interface CeleryEvents {
  readonly state: CeleryEventState;
  /** Resolves once subscribed. */
  readonly ready: Promise<void>;
  /** Stops using them; the last user's release closes the subscription. Idempotent. */
  release(): Promise<void>;
}

/**
 * The Celery events of the database `redis` talks to, read by one pub/sub connection for every
 * Celery queue sampled on that client (the first user subscribes, the last one's release closes).
 */
export function useCeleryEvents(
  redis: RedisClient,
  buckets: readonly number[] = DEFAULT_BUCKETS,
): CeleryEvents {
  let hub = hubs.get(redis);
  if (!hub) {
    const state = new CeleryEventState(buckets);
    hub = { state, listener: new CeleryEventListener(redis, state), users: 0 };
    hubs.set(redis, hub);
  }
  hub.users++;
  const used = hub;
  let released = false;
  return {
    state: used.state,
    ready: used.listener.ready,
    release: async () => {
      if (released) return;
      released = true;
      used.users--;
      if (used.users > 0) return;
      if (hubs.get(redis) === used) hubs.delete(redis);
      await used.listener.close();
    },
  };
}

/** The event state being read for `redis` now, if a Celery queue is sampled on it. */
export function celeryEventsOf(redis: RedisClient): CeleryEventState | undefined {
  return hubs.get(redis)?.state;
}
