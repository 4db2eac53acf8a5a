import { EmbeddingError } from '../embedding/embedding-error.js';
import { isRedisOutOfMemory, isRedisUnavailable } from '../queue/redis-errors.js';
import { ApiError } from './api-error.js';
import type { ApiResponse } from './api-types.js';

/** The one place that turns an error into an HTTP answer. */
export function errorResponse(error: unknown): ApiResponse {
  if (error instanceof ApiError) {
    return {
      status: error.status,
      body: { error: { code: error.code, message: error.message, ...error.details } },
      ...(error.headers && { headers: error.headers }),
    };
  }
  if (isRedisOutOfMemory(error)) {
    return {
      status: 503,
      body: {
        error: {
          code: 'redis_full',
          message:
            'The queue store (Redis) is out of memory (maxmemory) and refuses new data; nothing was stored. Retry later.',
        },
      },
      headers: { 'Retry-After': '30' },
    };
  }
  if (isRedisUnavailable(error)) {
    return {
      status: 503,
      body: {
        error: {
          code: 'redis_unavailable',
          message:
            'The queue store (Redis) cannot be reached right now; nothing was stored. Retry later.',
        },
      },
      headers: { 'Retry-After': '5' },
    };
  }
  if (error instanceof EmbeddingError) {
    return {
      status: 502,
      body: {
        error: {
          code: 'embedding_unavailable',
          message: `The embedding service failed: ${error.message}`,
        },
      },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'Internal server error' } },
  };
}
