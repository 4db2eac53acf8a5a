import { readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlowUpload, trickleUpload } from '../harness/slow-upload.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, testEnv, type TestStack } from '../harness/stack.js';
import { runApp } from '../src/cli/run-app.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';

const TOKEN = 'a-token-of-sixteen-chars';

/** A multipart body with one `file` part whose Content-Disposition is given as is. */
function multipart(disposition: string, content: string) {
  const boundary = 'XBOUNDARYx';
  return {
    type: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n`),
      Buffer.from(`Content-Type: text/plain\r\n\r\n${content}\r\n--${boundary}--\r\n`),
    ]),
  };
}

describe('Upload API request safety', () => {
  let redis: TestRedisServer;
  let stack: TestStack;
  let open: TestStack;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await createTestStack(
      redis,
      { API_TOKEN: TOKEN, CORS_ORIGINS: 'http://status.example:9464', BODY_TIMEOUT_SECONDS: '1' },
      { worker: false },
    );
    open = await createTestStack(redis, {}, { worker: false });
  });

  afterAll(async () => {
    await stack.close();
    await open.close();
    await redis.stop();
  });

  const auth = { Authorization: `Bearer ${TOKEN}` };

  it('should keep UTF-8 file names and RFC 5987 filename* names exactly', async () => {
    const plain = multipart('form-data; name="file"; filename="ünïcödé 名前.txt"', 'hello');
    const utf8 = await request(stack.app)
      .post('/api/v1/files')
      .set(auth)
      .set('Content-Type', plain.type)
      .send(plain.body);
    expect(utf8.status).toBe(202);
    expect(utf8.body.name).toBe('ünïcödé 名前.txt');

    const extended = multipart(
      `form-data; name="file"; filename="rates.txt"; filename*=UTF-8''%E2%82%AC%20rates%20%C3%A9t%C3%A9.txt`,
      'hello',
    );
    const rfc5987 = await request(stack.app)
      .post('/api/v1/files')
      .set(auth)
      .set('Content-Type', extended.type)
      .send(extended.body);
    expect(rfc5987.status).toBe(202);
    expect(rfc5987.body.name).toBe('€ rates été.txt');
    const stored = await request(stack.app)
      .get(rfc5987.body.statusUrl as string)
      .set(auth);
    expect(stored.body.name).toBe('€ rates été.txt');
  });

  it('should check the token before reading the body', async () => {
    const res = await request(stack.app)
      .post('/api/v1/search')
      .set('Content-Type', 'application/json')
      .send('{not json');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });

  it('should refuse state-changing requests from other sites, and only those', async () => {
    const upload = (headers: Record<string, string>) =>
      request(open.app)
        .post('/api/v1/files')
        .set(headers)
        .attach('file', Buffer.from('cross-site?'), 'x.txt');
    const before = await open.listUploadFiles();
    const crossSite: Record<string, string>[] = [
      { Origin: 'http://evil.example' },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'cross-site' },
    ];
    for (const headers of crossSite) {
      const res = await upload(headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 403 });
      expect(res.body.error.message).toContain('CORS_ORIGINS');
    }
    expect(await open.listUploadFiles()).toEqual(before);
    const del = await request(open.app)
      .delete('/api/v1/files/00000000-0000-4000-8000-000000000000')
      .set('Origin', 'http://evil.example');
    expect(del.status).toBe(403);
    // Reads stay open to any origin (browsers keep their answers from pages without CORS).
    const read = await request(open.app)
      .get('/api/v1/files/00000000-0000-4000-8000-000000000000')
      .set('Origin', 'http://evil.example');
    expect(read.status).toBe(404);

    // No Origin (curl, servers), the API's own origin, and an allowed origin are fine.
    expect((await upload({})).status).toBe(202);
    const server = open.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const own = await upload({ Origin: `http://127.0.0.1:${port}`, Host: `127.0.0.1:${port}` });
      expect(own.status).toBe(202);
    } finally {
      server.close();
    }
    const allowed = await request(stack.app)
      .post('/api/v1/files')
      .set(auth)
      .set('Origin', 'http://status.example:9464')
      .attach('file', Buffer.from('allowed'), 'ok.txt');
    expect(allowed.status).toBe(202);
  });

  it('should refuse host names that are not loopback without API_TOKEN (DNS rebinding), on every files route', async () => {
    const rebound = 'rebind.attacker.example';
    const existing = await request(open.app)
      .post('/api/v1/files')
      .attach('file', Buffer.from('kept'), 'kept.txt');
    expect(existing.status).toBe(202);
    const id = existing.body.id as string;
    const filesBefore = await open.listUploadFiles();
    const keysBefore = await open.listQueueKeys();
    const attempts = {
      upload: () =>
        request(open.app).post('/api/v1/files').attach('file', Buffer.from('x'), 'x.txt'),
      list: () => request(open.app).get('/api/v1/files'),
      get: () => request(open.app).get(`/api/v1/files/${id}`),
      chunks: () => request(open.app).get(`/api/v1/files/${id}/chunks`),
      delete: () => request(open.app).delete(`/api/v1/files/${id}`),
      search: () => request(open.app).post('/api/v1/search').send({ query: 'kept' }),
    };
    for (const [name, attempt] of Object.entries(attempts)) {
      const res = await attempt().set('Host', `${rebound}:8080`);
      expect(res.status, name).toBe(403);
      expect(res.body.error.code).toBe('host_not_allowed');
      expect(res.body.error.message).toContain('API_TOKEN');
      expect(res.body.error.message).toContain(rebound);
    }
    // Nothing was stored or deleted.
    expect(await open.listUploadFiles()).toEqual(filesBefore);
    expect(await open.listQueueKeys()).toEqual(keysBefore);
    // The probes stay open: they show nothing.
    expect((await request(open.app).get('/healthz').set('Host', rebound)).status).toBe(200);
    // Loopback names in any spelling are the API's own.
    for (const host of ['localhost:8080', 'LOCALHOST', '127.0.0.1', '127.1.2.3:80', '[::1]:8080']) {
      const res = await request(open.app).get(`/api/v1/files/${id}`).set('Host', host);
      expect(res.status, host).toBe(200);
    }
    // With API_TOKEN, any host name is served to whoever has the token.
    const tokened = await request(stack.app)
      .post('/api/v1/files')
      .set(auth)
      .set('Host', `${rebound}:8080`)
      .attach('file', Buffer.from('with a token'), 'ok.txt');
    expect(tokened.status).toBe(202);
  });

  it('should answer 408 to a body that stops arriving, and keep nothing of it', async () => {
    const server = stack.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const before = await stack.listUploadFiles();
      const started = Date.now();
      // Half a file, then silence.
      const { answer: answered } = startSlowUpload(port, { authorization: `Bearer ${TOKEN}` });
      const answer = await answered;
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body).error.message).toContain('BODY_TIMEOUT_SECONDS');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await stack.listUploadFiles()).toEqual(before);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  describe('whole-request limit (REQUEST_TIMEOUT_SECONDS)', () => {
    /** The API as `qscale app` serves it (Node's server and its timeouts), on a free port. */
    async function runningApi(env: Env) {
      const config = loadConfig(
        await testEnv(redis, { PORT: '0', HOST: '127.0.0.1', BODY_TIMEOUT_SECONDS: '1', ...env }),
      );
      const app = await runApp(config, createLogger(config, 'test'));
      const files = async () =>
        (await readdir(config.http.uploadDir, { recursive: true, withFileTypes: true })).filter(
          (entry) => entry.isFile(),
        );
      return { app, config, files };
    }

    it('should answer 408 to an upload still flowing at the limit, and keep nothing of it', async () => {
      const { app, config, files } = await runningApi({ REQUEST_TIMEOUT_SECONDS: '2' });
      try {
        // 400 KB at 50 KB/s: never idle for BODY_TIMEOUT_SECONDS, but 8 s long.
        const result = await trickleUpload(app.port, {
          totalBytes: 400_000,
          bytesPerSecond: 50_000,
        });
        expect(result.status, JSON.stringify(result)).toBe(408);
        const error = JSON.parse(result.body).error;
        expect(error.code).toBe('request_timeout');
        expect(error.message).toMatch(
          /within 2 s \(REQUEST_TIMEOUT_SECONDS\): \d+ of 400\d+ bytes/,
        );
        expect(result.ms).toBeGreaterThanOrEqual(1900);
        expect(result.ms).toBeLessThan(6000);
        expect(result.sentBytes).toBeLessThan(400_000);
        await app.context.settler.idle();
        expect(await files()).toEqual([]);
        const keys = await app.context.redis.keys(
          `${config.queue.prefix}:${config.queue.name}:qscale:file:*`,
        );
        expect(keys).toEqual([]);
      } finally {
        await app.close();
        await rm(config.http.uploadDir, { recursive: true, force: true });
      }
    });

    it('should take an upload longer than any limit when it is 0, and still cut a body that stalls', async () => {
      const { app, config } = await runningApi({ REQUEST_TIMEOUT_SECONDS: '0' });
      try {
        const result = await trickleUpload(app.port, {
          totalBytes: 150_000,
          bytesPerSecond: 50_000,
        });
        expect(result.status, JSON.stringify(result)).toBe(202);
        expect(result.ms).toBeGreaterThan(2500);
        const stalled = await startSlowUpload(app.port).answer;
        expect(stalled.status).toBe(408);
        expect(JSON.parse(stalled.body).error.code).toBe('body_timeout');
      } finally {
        await app.close();
        await rm(config.http.uploadDir, { recursive: true, force: true });
      }
    });
  });
});
