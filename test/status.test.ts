import getPort from 'get-port';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli-process.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

describe('qscale status', () => {
  let redis: TestRedisServer;
  let stack: TestStack;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await createTestStack(redis);
  });

  afterAll(async () => {
    await stack.close();
    await redis.stop();
  });

  it('should report Redis, job counts, the oldest waiting job and connected workers', async () => {
    const done = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('one'), 'a.txt');
    await stack.waitForStatus(done.body.id, 'completed');
    await stack.worker!.worker.worker.pause();
    await request(stack.app).post('/api/v1/files').attach('file', Buffer.from('two'), 'b.txt');
    await request(stack.app).post('/api/v1/files').attach('file', Buffer.from('three'), 'c.txt');
    await new Promise((resolve) => setTimeout(resolve, 300));

    const env = { REDIS_URL: redis.url, QUEUE_NAME: stack.config.queue.name };
    const json = await runCli(['status', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.redis).toMatchObject({ up: true, version: expect.any(String) });
    const [queue] = report.queues;
    expect(report.queues).toHaveLength(1);
    expect(queue).toMatchObject({ kind: 'bullmq', prefix: 'bull', telemetry: 'instrumented' });
    expect(queue.counts).toMatchObject({ wait: 2, completed: 1, active: 0, failed: 0 });
    expect(queue.backlog).toBe(2);
    expect(queue.oldestJobAgeSeconds).toBeGreaterThanOrEqual(0.2);
    expect(queue.workers.count).toBeGreaterThanOrEqual(1);
    expect(queue.workers.names.join(',')).toContain(stack.config.worker.id);

    const text = await runCli(['status'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Backlog\s+2/);
    expect(text.stdout).toContain('completed 1');
    await stack.worker!.worker.worker.resume();
  });

  it('should exit 1 and say so when Redis is unreachable', async () => {
    const port = await getPort({ host: '127.0.0.1' });
    const { code, stdout } = await runCli(['status', '--json'], {
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.redis.up).toBe(false);
    // What happened, not ioredis' "Connection is closed.".
    expect(report.redis.error).toBe(
      `connection refused at 127.0.0.1:${port} (nothing listens there)`,
    );
  });
});
