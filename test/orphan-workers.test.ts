import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess } from '../harness/cli-process.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { testEnv } from '../harness/stack.js';

/** Whether a process runs (a zombie, already exited and waiting to be reaped, does not count). */
async function running(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return status !== '' && !/^State:\s+Z/m.test(status);
}

describe('qscale workers', () => {
  let redis: TestRedisServer;
  let parent: CliProcess | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await parent?.stop();
    await redis.stop();
  });

  it('should take its worker processes with it when it is killed with SIGKILL', async () => {
    parent = new CliProcess(['workers', '--min-workers', '1'], {
      ...(await testEnv(redis)),
      LOG_LEVEL: 'info',
    });
    const taking = await parent.waitForLog((line) => line.msg === 'worker taking jobs', 30_000);
    const child = Number(taking.pid);
    expect(child).not.toBe(parent.child.pid);
    expect(await running(child)).toBe(true);

    parent.kill('SIGKILL');
    await parent.exited;
    await expect
      .poll(() => running(child), {
        timeout: 15_000,
        interval: 100,
        message: `worker process ${child} running after its parent's SIGKILL`,
      })
      .toBe(false);
  });

  it('should drain its worker processes on a Ctrl-C: the signal reaches the parent only, which stops each child once', async () => {
    parent = new CliProcess(
      ['workers', '--min-workers', '1'],
      { ...(await testEnv(redis)), LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_SECONDS: '5' },
      { processGroup: true },
    );
    const taking = await parent.waitForLog((line) => line.msg === 'worker taking jobs', 30_000);
    const child = Number(taking.pid);
    parent.killGroup('SIGINT');
    const { code } = await parent.exited;
    expect(code).toBe(0);
    const childLines = parent.lines.filter((line) => line.pid === child);
    expect(childLines.map((line) => line.msg)).toContain('worker stopped');
    expect(childLines.filter((line) => line.msg === 'shutting down')).toHaveLength(1);
    expect(parent.lines.map((line) => line.msg)).not.toContain('second signal: exiting now');
    expect(await running(child)).toBe(false);
  });
});
