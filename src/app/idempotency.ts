import { createHash } from 'node:crypto';
import type { RedisClient } from '../queue/redis-connection.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import { ApiError } from './api-error.js';
import type { ApiResponse } from './api-types.js';

const PENDING = 'pending';
/** How long a request may hold its key before a retry is allowed to take over. */
const PENDING_TTL_MS = 5 * 60 * 1000;

/** The outcome of claiming an Idempotency-Key. */
export type IdempotencyClaim =
  { kind: 'none' } | { kind: 'claimed'; key: string } | { kind: 'replay'; response: ApiResponse };

/** Validates the header: 1-255 visible ASCII characters. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new ApiError(
      400,
      'invalid_idempotency_key',
      'Idempotency-Key must be 1 to 255 visible ASCII characters (for example a UUID)',
    );
  }
  return value;
}

/**
 * Remembers the answer to an upload under its Idempotency-Key, so a retried request gets the same
 * file ids and creates no second job. A request that is still running holds the key; a concurrent
 * retry gets 409.
 */
export class IdempotencyStore {
  private readonly redis: RedisClient;
  private readonly keys: QueueKeys;
  private readonly ttlSeconds: number;

  constructor(redis: RedisClient, keys: QueueKeys, ttlSeconds: number) {
    this.redis = redis;
    this.keys = keys;
    this.ttlSeconds = ttlSeconds;
  }

  async claim(idempotencyKey: string | undefined): Promise<IdempotencyClaim> {
    if (idempotencyKey === undefined) return { kind: 'none' };
    const key = this.keys.idempotency(createHash('sha256').update(idempotencyKey).digest('hex'));
    const claimed = await this.redis.set(key, PENDING, 'PX', PENDING_TTL_MS, 'NX');
    if (claimed === 'OK') return { kind: 'claimed', key };
    const stored = await this.redis.get(key);
    if (stored === null) {
      // Released between our two calls: the earlier request failed. Let the client retry.
      throw new ApiError(
        409,
        'idempotency_conflict',
        'Retry: the earlier request with this Idempotency-Key has just failed',
        {
          headers: { 'Retry-After': '1' },
        },
      );
    }
    if (stored === PENDING) {
      throw new ApiError(
        409,
        'idempotency_in_progress',
        'A request with this Idempotency-Key is still being processed; retry when it has finished',
        { headers: { 'Retry-After': '1' } },
      );
    }
    return { kind: 'replay', response: JSON.parse(stored) as ApiResponse };
  }

  /** Stores the response for replays. */
  async complete(claim: IdempotencyClaim, response: ApiResponse): Promise<void> {
    if (claim.kind !== 'claimed') return;
    await this.redis.set(claim.key, JSON.stringify(response), 'EX', this.ttlSeconds);
  }

  /** Frees the key after a failure, so that a retry can succeed. Never throws. */
  async release(claim: IdempotencyClaim): Promise<void> {
    if (claim.kind !== 'claimed') return;
    await this.redis.del(claim.key).catch(() => undefined);
  }
}
