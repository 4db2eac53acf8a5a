import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSlowUpload } from '../harness/slow-upload.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

describe('Upload API while Redis is down', () => {
  let redis: TestRedisServer;
  let stack: TestStack;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await createTestStack(redis, {}, { worker: false });
  });

  afterAll(async () => {
    await redis.start();
    await stack.close();
    await redis.stop();
  });

  const waitFor = (check: () => Promise<boolean>, timeoutMs = 10_000) =>
    vi.waitFor(
      async () => {
        if (!(await check())) throw new Error('condition not met in time');
      },
      { timeout: timeoutMs, interval: 50 },
    );

  it('should answer 503 to uploads and /readyz, leave no blob behind, and recover when Redis is back', async () => {
    expect((await request(stack.app).get('/readyz')).status).toBe(200);
    await redis.stop();

    const ready = await request(stack.app).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.redis.up).toBe(false);
    expect((await request(stack.app).get('/healthz')).status).toBe(200);

    const upload = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('hello'), 'a.txt');
    expect(upload.status).toBe(503);
    expect(upload.headers['retry-after']).toBeDefined();
    expect(upload.body.error.message).toContain('Redis');
    expect(await stack.listUploadFiles()).toEqual([]);

    const read = await request(stack.app).get('/api/v1/files/00000000-0000-4000-8000-000000000000');
    expect(read.status).toBe(503);

    await redis.start();
    await waitFor(async () => (await request(stack.app).get('/readyz')).status === 200);
    const again = await request(stack.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('hello'), 'a.txt');
    expect(again.status).toBe(202);
    expect(await stack.listUploadFiles()).toHaveLength(1);
  });

  it('should answer 503 and remove the blob when Redis goes away in the middle of an upload', async () => {
    const server = stack.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const filesBefore = await stack.listUploadFiles();
      const upload = startSlowUpload(port);
      // The body is being written to a temporary file: now take Redis away.
      await waitFor(async () => (await stack.listUploadFiles()).length > filesBefore.length);
      await redis.stop();
      upload.finish();
      const res = await upload.answer;
      expect(res.status).toBe(503);
      expect(JSON.parse(res.body).error.code).toBe('redis_unavailable');
      expect(await stack.listUploadFiles()).toEqual(filesBefore);
    } finally {
      server.close();
      await redis.start();
    }
  });
});
