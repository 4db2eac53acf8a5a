import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CliProcess } from '../harness/cli-process.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';

describe('A process whose log reader is gone', () => {
  let redis: TestRedisServer | undefined;
  let proc: CliProcess | undefined;

  afterEach(async () => {
    await proc?.stop();
    await redis?.stop();
  });

  it('should still exit on SIGTERM within its deadline when Redis is gone too', async () => {
    // Found when a crashed scaling lab left `qscale app` running: its stdout's reader had exited,
    // Redis was stopped, and SIGTERM never ended it (pino's exit flush looped on EPIPE).
    redis = await startRedisServer();
    proc = new CliProcess(['app'], {
      REDIS_URL: redis.url,
      QUEUE_NAME: 'broken_stdout',
      UPLOAD_DIR: await mkdtemp(join(tmpdir(), 'qscale-test-')),
      PORT: '0',
      SHUTDOWN_TIMEOUT_SECONDS: '1',
    });
    await proc.waitForLog((line) => line.msg?.startsWith('upload API listening') === true);
    // The reader of its stdout and stderr goes away, then Redis.
    proc.child.stdout!.destroy();
    proc.child.stderr!.destroy();
    await redis.stop();
    redis = undefined;
    const started = Date.now();
    proc.kill('SIGTERM');
    const exit = await Promise.race([
      proc.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 15_000)),
    ]);
    expect(exit).not.toBe('still running');
    // The deadline is SHUTDOWN_TIMEOUT_SECONDS + 5 s.
    expect(Date.now() - started).toBeLessThan(7_000);
  }, 40_000);
});
