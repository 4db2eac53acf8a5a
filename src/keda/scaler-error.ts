import { status } from '@grpc/grpc-js';
import { isRedisOutOfMemory } from '../redis/redis-errors.js';

/** Error details (the gRPC status message, and the log line of a rejection): at most this long. */
export const MAX_DETAILS_CHARS = 1024;

/** `text`, or its first `max` characters and how long it was. */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** A value quoted for a message: `"abc"`, or its first 64 characters quoted and how long it was. */
export function shown(value: string): string {
  return value.length <= 64
    ? JSON.stringify(value)
    : `${JSON.stringify(value.slice(0, 64))}… (${value.length} characters)`;
}

/** A request the scaler answers with a specific gRPC status and a message for the operator. */
export class ScalerError extends Error {
  readonly code: status;

  constructor(code: status, message: string) {
    super(message);
    this.name = 'ScalerError';
    this.code = code;
  }
}

/**
 * The one place that turns an error into a gRPC status. The details are cut to
 * {@link MAX_DETAILS_CHARS}: they travel in a response header, and a request's long value must
 * not come back in one.
 */
export function toGrpcError(error: unknown): { code: status; details: string } {
  if (error instanceof ScalerError) {
    return { code: error.code, details: cut(error.message, MAX_DETAILS_CHARS) };
  }
  // Anything else comes from reading Redis (a failure or a timeout): never answer 0 then, or the
  // HPA would scale workers away during an outage.
  if (isRedisOutOfMemory(error)) {
    return {
      code: status.UNAVAILABLE,
      details:
        'Redis is out of memory (maxmemory with noeviction) and refused a command while the queue was read; free memory or raise maxmemory',
    };
  }
  return {
    code: status.UNAVAILABLE,
    details: cut(
      `cannot read the queue from Redis: ${(error as Error)?.message ?? String(error)}`,
      MAX_DETAILS_CHARS,
    ),
  };
}
