import { request as httpRequest, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/config/logger.js';
import { createExporterApp, type ExporterContext } from '../src/exporter/exporter-app.js';
import { createStatusAssets, statusPagePolicy } from '../src/exporter/status-api.js';

const TOKEN = 'Bearer scrape-token-0123456789';

/** The app over fixed answers: a scrape names its format; `fail` makes scrapes throw. */
function appWith(options: { fail?: boolean; console?: boolean } = {}) {
  const consoleRouter = express.Router();
  consoleRouter.use((req, res) => {
    res.json({ console: req.path });
  });
  const ctx: ExporterContext = {
    scrape: async (openMetrics) => {
      if (options.fail) throw new Error('collect failed');
      return openMetrics
        ? { contentType: 'application/openmetrics-text', body: 'om\n# EOF\n' }
        : { contentType: 'text/plain; version=0.0.4', body: 'text\n' };
    },
    status: async () => ({ redisUp: true }),
    assets: createStatusAssets(),
    pagePolicy: statusPagePolicy(undefined),
    authorized: (req) => req.headers.authorization === TOKEN,
    authKind: 'bearer',
    logger: createLogger({ logLevel: 'silent' }, 'test'),
    ...(options.console !== false && { console: consoleRouter }),
  };
  return createExporterApp(ctx);
}

describe('Exporter app', () => {
  const app = appWith();

  it('should serve /healthz to anyone and the rest only with METRICS_AUTH', async () => {
    const health = await request(app).get('/healthz');
    expect(health.status).toBe(200);
    expect(health.text).toBe('ok\n');
    for (const path of ['/metrics', '/api/status', '/', '/assets/status.js']) {
      const denied = await request(app).get(path);
      expect(denied.status, path).toBe(401);
      expect(denied.headers['www-authenticate'], path).toBe('Bearer realm="qscale"');
      expect(denied.text, path).toBe(
        `Unauthorized: ${path} needs the credentials set in METRICS_AUTH\n`,
      );
      expect((await request(app).get(path).set('Authorization', TOKEN)).status, path).toBe(200);
    }
  });

  it('should serve OpenMetrics when the scraper asks for it and Prometheus text otherwise', async () => {
    const text = await request(app).get('/metrics').set('Authorization', TOKEN);
    expect(text.headers['content-type']).toBe('text/plain; version=0.0.4');
    expect(text.text).toBe('text\n');
    const om = await request(app)
      .get('/metrics')
      .set({ Authorization: TOKEN, Accept: 'application/openmetrics-text; version=1.0.0' });
    expect(om.headers['content-type']).toBe('application/openmetrics-text');
    expect(om.text).toBe('om\n# EOF\n');
  });

  it('should answer HEAD with the headers of GET and no body', async () => {
    const page = await request(app).head('/').set('Authorization', TOKEN);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(Number(page.headers['content-length'])).toBeGreaterThan(0);
    expect(page.text).toBeUndefined();
    const status = await request(app).head('/api/status').set('Authorization', TOKEN);
    expect(status.headers['cache-control']).toBe('no-store');
    expect(status.headers['x-powered-by']).toBeUndefined();
  });

  it('should refuse other methods with 405 and unknown, trailing-slash or upper-case paths with 404', async () => {
    for (const path of ['/metrics', '/nope']) {
      const post = await request(app).post(path).set('Authorization', TOKEN);
      expect(post.status, path).toBe(405);
      expect(post.headers.allow, path).toBe('GET, HEAD');
    }
    for (const path of ['/metrics/', '/METRICS', '/healthz/', '/assets/nope.js', '/api/v1']) {
      const res = await request(app).get(path).set('Authorization', TOKEN);
      expect(res.status, path).toBe(404);
      expect(res.text, path).toBe('Not found: try / (status page), /metrics or /healthz\n');
    }
  });

  it('should hand every /api/v1/ request to the console, whatever its method', async () => {
    const res = await request(app).delete('/api/v1/anything');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ console: '/api/v1/anything' });
    expect((await request(appWith({ console: false })).get('/api/v1/queues')).status).toBe(404);
  });

  it('should answer a failed scrape with a bare 500', async () => {
    const res = await request(appWith({ fail: true }))
      .get('/metrics')
      .set('Authorization', TOKEN);
    expect(res.status).toBe(500);
    expect(res.text).toBe('Internal error\n');
  });

  it('should not route a request target that is not a plain path', async () => {
    const server = createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const path of [`http://127.0.0.1:${port}/healthz`, '/healthz#x']) {
        const status = await new Promise<number | undefined>((resolve, reject) => {
          httpRequest({ port, host: '127.0.0.1', path }, (res) => {
            res.resume();
            resolve(res.statusCode);
          })
            .on('error', reject)
            .end();
        });
        expect(status, path).toBe(404);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
