import type { ApiContext } from '../api-context.js';
import type { ApiResponse } from '../../http/api-types.js';

/** GET /healthz: the process is alive. Never touches Redis. */
export async function healthz(): Promise<ApiResponse> {
  return { status: 200, body: { status: 'ok' } };
}

/** GET /readyz: Redis answers a PING within a second; 503 otherwise. */
export async function readyz(ctx: ApiContext): Promise<ApiResponse> {
  const started = performance.now();
  try {
    await Promise.race([
      ctx.redis.ping(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('PING timed out after 1000 ms')), 1000).unref(),
      ),
    ]);
    return {
      status: 200,
      body: {
        status: 'ready',
        redis: { up: true, latencyMs: Number((performance.now() - started).toFixed(2)) },
      },
    };
  } catch (error) {
    return {
      status: 503,
      body: { status: 'unavailable', redis: { up: false, error: (error as Error).message } },
    };
  }
}
