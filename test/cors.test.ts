import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';

const PAGE = 'http://localhost:9464';

describe('Upload API CORS', () => {
  let redis: TestRedisServer;
  let stack: TestStack | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  afterAll(async () => {
    await redis.stop();
  });

  const corsHeaders = (headers: Record<string, string>) =>
    Object.keys(headers).filter((name) => name.startsWith('access-control-'));

  it('should let an allowed origin read the answer of an upload and of a status poll', async () => {
    stack = await createTestStack(
      redis,
      { CORS_ORIGINS: `https://other.example, ${PAGE}` },
      { worker: false },
    );
    const upload = await request(stack.app)
      .post('/api/v1/files')
      .set('Origin', PAGE)
      .attach('file', Buffer.from('hello from the status page'), 'hello.txt');
    expect(upload.status).toBe(202);
    expect(upload.headers['access-control-allow-origin']).toBe(PAGE);
    expect(upload.headers.vary).toMatch(/\bOrigin\b/);

    const poll = await request(stack.app)
      .get(`/api/v1/files/${upload.body.id}`)
      .set('Origin', PAGE);
    expect(poll.status).toBe(200);
    expect(poll.headers['access-control-allow-origin']).toBe(PAGE);
  });

  it('should answer the preflight of an allowed origin with the methods and headers it may use', async () => {
    stack = await createTestStack(redis, { CORS_ORIGINS: PAGE }, { worker: false });
    const preflight = await request(stack.app)
      .options('/api/v1/files')
      .set('Origin', PAGE)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'idempotency-key, authorization');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(PAGE);
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, POST, DELETE');
    expect(preflight.headers['access-control-allow-headers']).toBe(
      'Content-Type, Authorization, Idempotency-Key',
    );
    expect(preflight.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('should keep errors readable by an allowed origin (a 401 without the token)', async () => {
    stack = await createTestStack(
      redis,
      { CORS_ORIGINS: PAGE, API_TOKEN: 'secret-token-123' },
      { worker: false },
    );
    const res = await request(stack.app)
      .post('/api/v1/files')
      .set('Origin', PAGE)
      .attach('file', Buffer.from('x'), 'x.txt');
    expect(res.status).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe(PAGE);
  });

  it('should give other origins no CORS headers, and not answer their preflight', async () => {
    stack = await createTestStack(redis, { CORS_ORIGINS: PAGE }, { worker: false });
    for (const origin of ['http://evil.example', `${PAGE}.evil.example`, 'http://localhost:9465']) {
      const get = await request(stack.app).get('/api/v1/files/nope').set('Origin', origin);
      expect(corsHeaders(get.headers), origin).toEqual([]);
      const preflight = await request(stack.app)
        .options('/api/v1/files')
        .set('Origin', origin)
        .set('Access-Control-Request-Method', 'POST');
      expect(preflight.status, origin).not.toBe(204);
      expect(corsHeaders(preflight.headers), origin).toEqual([]);
    }
  });

  it('should send no CORS headers at all when CORS_ORIGINS is not set', async () => {
    stack = await createTestStack(redis, {}, { worker: false });
    const res = await request(stack.app).get('/healthz').set('Origin', PAGE);
    expect(res.status).toBe(200);
    expect(corsHeaders(res.headers)).toEqual([]);
    expect(res.headers.vary ?? '').not.toMatch(/\bOrigin\b/);
  });
});
