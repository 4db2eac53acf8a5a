import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/redis-connection.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import { ApiError } from '../http/api-error.js';
import type { ApiResponse } from '../http/api-types.js';

/** A key held by a running request: `pending:<token>`, the token unique to that request. */
const PENDING = 'pending:';
/** How long a request may hold its key before a retry is allowed to take over. */
const PENDING_TTL_MS = 5 * 60 * 1000;
/** How long a failed release of a claim is retried. */
const RELEASE_RETRY_MS = 60_000;

/** The outcome of claiming an Idempotency-Key. */
export type IdempotencyClaim =
  | { kind: 'none' }
  | { kind: 'claimed'; key: string; token: string }
  | { kind: 'replay'; response: ApiResponse };

/** Deletes the key only while it still holds this request's claim. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type RedisWithRelease = RedisClient & {
  qscaleReleaseClaim(key: string, token: string): Promise<number>;
};

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
  private readonly redis: RedisWithRelease;
  private readonly keys: QueueKeys;
  /** The TTL of stored answers, in seconds. */
  readonly ttlSeconds: number;

  constructor(redis: RedisClient, keys: QueueKeys, ttlSeconds: number) {
    this.redis = redis as RedisWithRelease;
    if (typeof this.redis.qscaleReleaseClaim !== 'function') {
      redis.defineCommand('qscaleReleaseClaim', { numberOfKeys: 1, lua: RELEASE });
    }
    this.keys = keys;
    this.ttlSeconds = ttlSeconds;
  }

  async claim(idempotencyKey: string | undefined): Promise<IdempotencyClaim> {
    if (idempotencyKey === undefined) return { kind: 'none' };
    const key = this.keys.idempotency(createHash('sha256').update(idempotencyKey).digest('hex'));
    const token = `${PENDING}${randomUUID()}`;
    let claimed: string | null;
    try {
      claimed = await this.redis.set(key, token, 'PX', PENDING_TTL_MS, 'NX');
    } catch (error) {
      // No answer: the claim may still happen when Redis answers again. Undo it then (the release
      // goes out after it on the same connection), so a retry is not refused for minutes.
      void this.release({ kind: 'claimed', key, token });
      throw error;
    }
    if (claimed === 'OK') return { kind: 'claimed', key, token };
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
    if (stored.startsWith(PENDING)) {
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

  /**
   * Frees the key after a failure (if this request still holds it), so a retry can succeed. Never
   * throws. While Redis does not answer (down, frozen, failing over) it keeps trying in the
   * background for up to {@link RELEASE_RETRY_MS}: a claim left pending would refuse the client's
   * retries with 409 for minutes. Releasing twice is harmless (only this request's token goes).
   */
  async release(claim: IdempotencyClaim): Promise<void> {
    if (claim.kind !== 'claimed') return;
    const deadline = Date.now() + RELEASE_RETRY_MS;
    const attempt = (): Promise<void> =>
      this.redis.qscaleReleaseClaim(claim.key, claim.token).then(
        () => undefined,
        () => {
          if (Date.now() > deadline) return;
          setTimeout(() => void attempt(), 500).unref();
        },
      );
    await attempt();
  }
}
