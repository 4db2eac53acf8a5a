import { isRedisOutOfMemory, isRedisUnavailable } from '../redis/redis-errors.js';
import { ApiError } from './api-error.js';
import type { ApiResponse } from './api-types.js';

/** A 503 that says why and when to retry. */
function unavailable(code: string, message: string, retryAfterSeconds: number): ApiResponse {
  return {
    status: 503,
    body: { error: { code, message } },
    headers: { 'Retry-After': String(retryAfterSeconds) },
  };
}

/**
 * Turns an error into an HTTP answer: an {@link ApiError} as it is, Redis out of memory or out of
 * reach as 503 with Retry-After, anything else as a bare 500 (the caller logs it).
 */
export function errorResponse(error: unknown): ApiResponse {
  if (error instanceof ApiError) {
    return {
      status: error.status,
      body: { error: { code: error.code, message: error.message, ...error.details } },
      ...(error.headers && { headers: error.headers }),
    };
  }
  if (isRedisOutOfMemory(error)) {
    return unavailable(
      'redis_full',
      'The queue store (Redis) is out of memory (maxmemory) and refuses new data; nothing was stored. Retry later.',
      30,
    );
  }
  if (isRedisUnavailable(error)) {
    return unavailable(
      'redis_unavailable',
      'The queue store (Redis) cannot be reached right now; nothing was stored. Retry later.',
      5,
    );
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'Internal server error' } },
  };
}
