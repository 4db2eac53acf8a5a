import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedisServer, type TestRedisServer } from './redis-server.js';

/**
 * The usual set-up of a test file: one private redis-server for the whole file (started before
 * its tests, stopped after), and clean-ups that each test registers and that run after it, last
 * registered first, a failing one not stopping the others.
 */
export function redisPerFile(): {
  /** The file's server (once `beforeAll` ran). */
  readonly redis: TestRedisServer;
  /** Pushed by a test; run and emptied after each test. */
  cleanups: (() => Promise<unknown>)[];
} {
  let server: TestRedisServer | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get redis() {
      if (!server) throw new Error('the redis-server starts in beforeAll: use it inside a test');
      return server;
    },
    cleanups,
  };
}
