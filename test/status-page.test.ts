import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import type { RedisClient } from '../src/redis/redis-connection.js';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeServer } from '../src/cli/http-listen.js';
import { runWorker, type RunningWorker } from '../src/cli/run-worker.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { createExporterServer } from '../src/exporter/exporter-server.js';
import { readHistory } from '../src/exporter/queue-history.js';
import { createQueueJobs } from '../src/jobs/create-queue-jobs.js';
import { ScrapeSource } from '../src/exporter/scrape-source.js';
import type { StatusBody } from '../src/exporter/status-api.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { createRedis } from '../src/redis/redis-connection.js';
import { watchedQueuesOf } from '../src/kinds/watched-queue.js';
import { ScalingSignals } from '../src/scaling/scaling-signals.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { rqEnqueue } from '../harness/rq.js';
import { createTestStack, testEnv, type TestStack } from '../harness/stack.js';

const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));

async function listenLocal(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Exporter {
  url: string;
  server: Server;
  redis: RedisClient;
  close(): Promise<void>;
}

/** The exporter's HTTP server as `runExporter` builds it, plus the status page's options. */
async function startExporter(
  env: Env,
  options: {
    uploadUrl?: string;
    statusExtras?: () => Record<string, unknown>;
    actionToken?: string;
  } = {},
): Promise<Exporter> {
  const config = loadConfig(env);
  const logger = createLogger(config, 'test');
  const redis = createRedis(config.redis, { role: 'request' });
  redis.on('error', () => undefined);
  const sampler = new QueueSampler(
    redis,
    watchedQueuesOf(config).map((q) => q.keys),
    {
      ttlMs: config.metrics.sampleTtlMs,
      timeoutMs: config.redis.timeoutMs,
      readMemory: true,
    },
  );
  const signals = new ScalingSignals(sampler, config.scaler.rateWindowSeconds);
  let server: Server;
  try {
    server = createExporterServer({
      source: new ScrapeSource(signals, logger),
      metrics: config.metrics,
      sizing: config.scaler.sizing,
      rateWindowSeconds: config.scaler.rateWindowSeconds,
      logger,
      redis,
      jobs: new Map(
        watchedQueuesOf(config)
          .map((q) => q.keys)
          .map((k) => [k.queue, createQueueJobs(redis, k)]),
      ),
      history: (queue, seconds) =>
        readHistory(
          redis,
          watchedQueuesOf(config)
            .map((q) => q.keys)
            .find((k) => k.queue === queue)!,
          seconds,
        ),
      ...options,
    });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const url = await listenLocal(server);
  return {
    url,
    server,
    redis,
    async close() {
      await closeServer(server);
      redis.disconnect();
    },
  };
}

/** A page that records console errors and uncaught exceptions. */
async function openPage(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number },
  mobile = false,
) {
  const context = await browser.newContext({
    viewport,
    ...(mobile && { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }),
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  await page.goto(url);
  return { page, errors, close: () => context.close() };
}

// The test program has no DOM types (tsconfig lib is ES2023 only): the page is read through
// locators, which wait by themselves, and one `evaluate` of a string expression.
const textOf = (page: Page, selector: string) => page.locator(selector).first().textContent();

/** Matches a whole text exactly. */
const exactly = (text: string) => {
  const escaped = text.replace(/[.*+?^$()|[\]{}\\]/g, '\\$&');
  return new RegExp(`^${escaped}$`);
};

/** Waits until `selector` shows exactly `text`; on timeout says what it showed and what went wrong. */
async function waitForText(
  view: { page: Page; errors: string[] },
  selector: string,
  text: string,
  timeoutMs = 10_000,
): Promise<void> {
  try {
    await view.page
      .locator(selector)
      .filter({ hasText: exactly(text) })
      .first()
      .waitFor({ timeout: timeoutMs });
  } catch (error) {
    const shown = await textOf(view.page, selector).catch(() => null);
    const banner = await textOf(view.page, '#banner').catch(() => null);
    throw new Error(
      `${selector} did not show ${JSON.stringify(text)} within ${timeoutMs} ms (it shows ${JSON.stringify(shown)}; banner ${JSON.stringify(banner)}; page errors: ${JSON.stringify(view.errors)})`,
      { cause: error },
    );
  }
}

describe('Status page', () => {
  let redis: TestRedisServer;
  let browser: Browser;

  beforeAll(async () => {
    redis = await startRedisServer();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await mkdir(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await redis?.stop();
  });

  it('should show the backlog, take an upload to completed and list failures, in a real browser', async () => {
    const queue = `status_${randomUUID().slice(0, 8)}`;
    // The page's origin must be known to the API (CORS) and the API's URL to the page: listen the
    // API first and hand it the app once the stack exists.
    let app: RequestListener = (_req, res) => res.writeHead(503).end();
    const apiServer = createServer((req, res) => app(req, res));
    const apiUrl = await listenLocal(apiServer);
    let exporter: Exporter | undefined;
    let stack: TestStack | undefined;
    let worker: RunningWorker | undefined;
    const decidedAt = Date.now();
    try {
      exporter = await startExporter(
        await testEnv(redis, { QUEUE_NAME: queue, QUEUES: queue, SAMPLE_TTL_MS: '200' }),
        {
          uploadUrl: `${apiUrl}/api/v1/files`,
          statusExtras: () => ({
            autoscaler: {
              mode: 'backlog',
              minWorkers: 1,
              maxWorkers: 4,
              lastDecision: { at: decidedAt, from: 1, to: 2, reason: 'backlog 3 > target' },
            },
          }),
        },
      );
      stack = await createTestStack(
        redis,
        {
          QUEUE_NAME: queue,
          CORS_ORIGINS: exporter.url,
          JOB_ATTEMPTS: '1',
          HEARTBEAT_SECONDS: '1',
        },
        { worker: false },
      );
      app = stack.app;

      // Work arrives while no worker runs: it stays in the backlog.
      for (const name of ['a.txt', 'b.txt', 'c.txt']) {
        const res = await request(stack.app)
          .post('/api/v1/files')
          .attach('file', Buffer.from(`contents of ${name}`), name);
        expect(res.status).toBe(202);
      }

      const desktop = await openPage(browser, `${exporter.url}/`, { width: 1280, height: 900 });
      await waitForText(desktop, '#backlog', '3');
      expect(await textOf(desktop.page, '#connection')).toBe('live');
      // 3 waiting, no job time known yet: one as long as the wait objective each, so 3 workers.
      await waitForText(desktop, '#workers', '0 / 3');
      // Readable facts, not raw keys: "Last decision  <time>: 1 → 2 workers, backlog 3 > target".
      const autoscalerText = (await textOf(desktop.page, '#autoscaler')) ?? '';
      expect(autoscalerText).toContain('Last decision');
      expect(autoscalerText).toContain('1 → 2 workers, backlog 3 > target');
      expect(autoscalerText).toContain('Max workers4');
      expect(autoscalerText).not.toMatch(/lastDecision|·/);
      // Every rate and ratio says its window.
      expect(await textOf(desktop.page, '#done-label')).toBe('Done / s · last 2 min');
      expect(await textOf(desktop.page, '#p95-label')).toBe('p95 processing · all jobs');
      expect(await textOf(desktop.page, '#utilization-head')).toBe('Utilization · last 1 min');

      // A file that cannot be read fails; its name is shown as text, never parsed as HTML.
      const hostile = '<img src=x onerror=alert(1)>.pdf';
      const bad = await request(stack.app)
        .post('/api/v1/files')
        .attach('file', Buffer.from('%PDF-1.4 this is not really a pdf'), {
          filename: hostile,
          contentType: 'application/pdf',
        });
      expect(bad.status).toBe(202);
      worker = await runWorker(stack.config, createLogger(stack.config, 'test'));
      await stack.waitForStatus(bad.body.id, 'failed');
      await waitForText(desktop, '#backlog', '0', 15_000);

      // An upload through the page's file input, followed until the worker is done with it.
      await desktop.page.setInputFiles('#file-input', {
        name: 'from-the-page.md',
        mimeType: 'text/markdown',
        buffer: Buffer.from('# Uploaded from the status page\n\nIt should end up completed.'),
      });
      await desktop.page
        .locator('.upload', {
          has: desktop.page.locator('.upload-name', { hasText: exactly('from-the-page.md') }),
        })
        .locator('.upload-status', { hasText: exactly('completed') })
        .waitFor({ timeout: 15_000 });
      await desktop.page
        .locator('#failures .failure-name', { hasText: exactly(hostile) })
        .waitFor({ timeout: 10_000 });
      expect(await desktop.page.locator('#failures img').count()).toBe(0);
      expect(await textOf(desktop.page, '.failure-error')).not.toBe('');

      // What the page polls, as a user of the JSON would see it.
      const status = (await (await fetch(`${exporter.url}/api/status`)).json()) as StatusBody;
      expect(status).toMatchObject({
        redisUp: true,
        uploadUrl: `${apiUrl}/api/v1/files`,
        autoscaler: { mode: 'backlog' },
      });
      expect(status.queues).toHaveLength(1);
      const [queueStatus] = status.queues;
      expect(queueStatus).toMatchObject({ name: queue, backlog: 0, paused: false });
      expect(queueStatus!.counts.completed).toBe(4);
      expect(queueStatus!.counts.failed).toBe(1);
      expect(queueStatus!.workers.live).toBe(1);
      expect(queueStatus!.workers.list[0]).toMatchObject({ concurrency: 2 });
      expect(queueStatus!.processingSeconds.p95).toBeGreaterThan(0);
      expect(queueStatus!.recentFailures).toEqual([
        expect.objectContaining({ id: bad.body.id, fileName: hostile, name: 'process-file' }),
      ]);

      // Let the charts draw a few points before the screenshots.
      await desktop.page.waitForTimeout(2500);
      await desktop.page.screenshot({ path: `${ARTIFACTS}status-page.png`, fullPage: true });
      expect(desktop.errors).toEqual([]);
      await desktop.close();

      const phone = await openPage(browser, `${exporter.url}/`, { width: 375, height: 812 }, true);
      await waitForText(phone, '#connection', 'live');
      await phone.page.waitForTimeout(1500);
      const widths = (await phone.page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
      )) as { scroll: number; client: number };
      expect(widths.client).toBe(375);
      expect(widths.scroll).toBeLessThanOrEqual(375);
      await phone.page.screenshot({ path: `${ARTIFACTS}status-page-phone.png`, fullPage: true });
      expect(phone.errors).toEqual([]);
      await phone.close();
    } finally {
      await worker?.close();
      await stack?.close();
      await exporter?.close();
      await closeServer(apiServer);
    }
  }, 90_000);

  it('should find, inspect and retry a failed job, pause and resume the queue, and refuse unauthorized actions, in a real browser', async () => {
    const name = `console_${randomUUID().slice(0, 8)}`;
    const env = await testEnv(redis, { QUEUE_NAME: name, SAMPLE_TTL_MS: '0' });
    const queue = new Queue(name, { connection: redis.client() });
    queue.on('error', () => undefined);
    const failing = { value: true };
    const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const worker = new Worker(
      name,
      async (job) => {
        if (job.data.fail && failing.value) throw new Error(`cannot parse ${job.data.fileName}`);
        return { ok: true };
      },
      { connection },
    );
    worker.on('error', () => undefined);
    const exporter = await startExporter(env);
    const guarded = await startExporter(env, { actionToken: 'page-action-token-01234' });
    const attacker = createServer((_req, res) => {
      // A page on another origin that posts a form to the sidecar as soon as it loads.
      res
        .writeHead(200, { 'Content-Type': 'text/html' })
        .end(
          `<form method="post" enctype="text/plain" action="${exporter.url}/api/v1/queues/${name}/pause"><input name='{"x":"' value='"}'></form><script>document.forms[0].submit()</script>`,
        );
    });
    const attackerUrl = await listenLocal(attacker);
    try {
      const bad = await queue.add('process-file', { fileName: 'broken.pdf', fail: true });
      await queue.add('process-file', { fileName: 'other.pdf', fail: true });
      // Until both have failed (5 s at most; the page's checks below say what is off).
      await vi
        .waitFor(
          async () => {
            if ((await queue.getFailedCount()) < 2) throw new Error('not yet');
          },
          { timeout: 5000, interval: 100 },
        )
        .catch(() => undefined);
      const view = await openPage(browser, `${exporter.url}/`, { width: 1280, height: 900 });
      await waitForText(view, '#connection', 'live');
      // The list: failed jobs, newest first; the failure list links to the job.
      await waitForText(view, '#jobs-range', '1–2 of 2 failed');
      await view.page.locator('#failures a', { hasText: 'broken.pdf' }).click();
      await waitForText(view, '#job-title', 'broken.pdf · failed');
      expect(await textOf(view.page, '#job-stack')).toContain('Error: cannot parse broken.pdf');
      expect(view.page.url()).toContain(`#queue=${name}&job=${bad.id}`);
      // Search narrows the list.
      await view.page.fill('#job-search-input', 'OTHER');
      await view.page.press('#job-search-input', 'Enter');
      await waitForText(view, '#jobs-range', '1 found · 2 failed');
      await view.page.fill('#job-search-input', '');
      await view.page.press('#job-search-input', 'Enter');
      // Retry it: it runs again and completes.
      failing.value = false;
      await view.page.click('#job-actions button[data-job-action="retry"]');
      await waitForText(view, '#job-title', 'broken.pdf · completed');
      await waitForText(view, '#jobs-range', '1–1 of 1 failed');
      await view.page.screenshot({ path: `${ARTIFACTS}console-job.png`, fullPage: true });

      // Pause: the backlog grows; resume: it drains.
      await view.page.click('#queue-pause');
      await view.page.locator('#queue-resume').waitFor({ state: 'visible' });
      expect(await queue.isPaused()).toBe(true);
      await queue.addBulk([1, 2, 3].map((n) => ({ name: 'process-file', data: { n } })));
      await waitForText(view, '#backlog', '3');
      await view.page.click('#queue-resume');
      await waitForText(view, '#backlog', '0');
      expect(await queue.isPaused()).toBe(false);
      expect(view.errors).toEqual([]);
      await view.close();

      // With ACTION_TOKEN: refused without it, done with it.
      const tokenView = await openPage(browser, `${guarded.url}/`, { width: 1280, height: 900 });
      await waitForText(tokenView, '#job-permission', 'Actions need the action token.');
      await tokenView.page.locator('#token-form').waitFor({ state: 'visible' });
      await tokenView.page.click('#queue-pause');
      await tokenView.page
        .locator('#job-message', { hasText: 'Missing or wrong action token' })
        .waitFor();
      expect(await queue.isPaused()).toBe(false);
      await tokenView.page.fill('#token-input', 'page-action-token-01234');
      await tokenView.page.click('#token-form button');
      await tokenView.page.click('#queue-pause');
      await tokenView.page.locator('#job-message', { hasText: 'Queue paused' }).waitFor();
      expect(await queue.isPaused()).toBe(true);
      await queue.resume();
      await tokenView.close();

      // A form on another origin that posts to the sidecar changes nothing.
      const evil = await openPage(browser, `${attackerUrl}/`, { width: 800, height: 600 });
      await evil.page.waitForURL(/\/pause$/);
      expect(await evil.page.locator('body').textContent()).toContain('cross_origin_refused');
      expect(await queue.isPaused()).toBe(false);
      await evil.close();

      // Phone width: the console fits.
      const phone = await openPage(
        browser,
        `${exporter.url}/#queue=${name}&job=${bad.id}`,
        {
          width: 375,
          height: 812,
        },
        true,
      );
      await waitForText(phone, '#job-title', 'broken.pdf · completed');
      const widths = (await phone.page.evaluate(
        '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
      )) as { scroll: number; client: number };
      expect(widths.scroll).toBeLessThanOrEqual(widths.client);
      await phone.page.screenshot({ path: `${ARTIFACTS}console-phone.png`, fullPage: true });
      expect(phone.errors).toEqual([]);
      await phone.close();
    } finally {
      await worker.close();
      connection.disconnect();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await exporter.close();
      await guarded.close();
      await closeServer(attacker);
    }
  }, 90_000);

  it('should draw the charts from the stored history on first load and after a reload', async () => {
    const name = `history_${randomUUID().slice(0, 8)}`;
    const env = await testEnv(redis, { QUEUE_NAME: name });
    const exporter = await startExporter(env);
    const client = redis.client();
    try {
      // Four minutes of points as a sidecar writes them (one per 5 s, `backlog,active,done/s,
      // enqueued/s,live,desired`), dated in the past: a recorder cannot backdate its points.
      const key = new QueueKeys('bull', name).history('5s');
      const now = Date.now();
      for (let i = 48; i >= 1; i--) {
        await client.xadd(key, `${now - i * 5000}-0`, 'p', `${48 - i},1,0.5,0.6,1,2`);
      }
      const view = await openPage(browser, `${exporter.url}/`, { width: 1280, height: 900 });
      await waitForText(view, '#connection', 'live');
      const pointsDrawn = () =>
        view.page.evaluate('charts.backlog ? charts.backlog.data[0].length : 0') as Promise<number>;
      await expect.poll(pointsDrawn, { timeout: 10_000 }).toBeGreaterThanOrEqual(48);
      // Redis memory and the uploads' bytes, in the footer.
      await view.page
        .locator('#storage', { hasText: /^Redis [\d.]+ (KiB|MiB) \(no maxmemory\) · files 0 B$/ })
        .waitFor({ timeout: 5_000 });
      await view.page.reload();
      await waitForText(view, '#connection', 'live');
      await expect.poll(pointsDrawn, { timeout: 10_000 }).toBeGreaterThanOrEqual(48);
      // The longer windows come from the same storage.
      await view.page.selectOption('#chart-window', '3600');
      await waitForText(view, '#chart-source', 'one point per 5 s, kept in Redis');
      expect(await pointsDrawn()).toBe(48);
      await view.page.screenshot({ path: `${ARTIFACTS}status-page-history.png`, fullPage: false });
      expect(view.errors).toEqual([]);
      await view.close();
    } finally {
      client.disconnect();
      await exporter.close();
    }
  }, 60_000);

  it('should say which numbers are derived for an RQ queue and a plain BullMQ app, in a real browser', async () => {
    const rqName = `rq_${randomUUID().slice(0, 8)}`;
    const plainName = `plain_${randomUUID().slice(0, 8)}`;
    const connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const plainQueue = new Queue(plainName, { connection, prefix: 'myapp' });
    const plainWorker = new Worker(plainName, async () => undefined, {
      connection,
      prefix: 'myapp',
      name: 'mailer-9',
    });
    const exporter = await startExporter(
      await testEnv(redis, {
        QUEUE_NAME: rqName,
        QUEUES: `rq:${rqName},bullmq:myapp/${plainName}`,
        SAMPLE_TTL_MS: '200',
      }),
    );
    try {
      await rqEnqueue(redis.port, rqName, [
        { fn: 'work', args: [0] },
        { fn: 'work', args: [0] },
        { fn: 'work', args: [0] },
      ]);
      await plainQueue.add('send', {});
      const view = await openPage(browser, `${exporter.url}/`, { width: 1280, height: 900 });
      await waitForText(view, '#backlog', '3');
      const rqLine = await textOf(view.page, '#telemetry');
      expect(rqLine).toContain(`RQ queue "${rqName}" (prefix rq)`);
      expect(rqLine).toContain('jobs done, processing time and workers are derived');
      // 3 waiting and nothing known of their time: a slot each (RQ workers run 1 job at a time).
      await waitForText(view, '#workers', '0 / 3');

      await view.page.selectOption('#queue-select', plainName);
      await waitForText(view, '#backlog', '0');
      await view.page
        .locator('#worker-rows td.worker-id', { hasText: 'mailer-9' })
        .waitFor({ timeout: 10_000 });
      const plainLine = await textOf(view.page, '#telemetry');
      expect(plainLine).toContain(`BullMQ queue "${plainName}" (prefix myapp)`);
      expect(plainLine).toContain('Concurrency per worker is estimated.');
      await view.page.screenshot({ path: `${ARTIFACTS}status-page-derived.png`, fullPage: true });
      expect(view.errors).toEqual([]);
      await view.close();
    } finally {
      await exporter.close();
      await plainWorker.close();
      await plainQueue.obliterate({ force: true });
      await plainQueue.close();
      connection.disconnect();
    }
  }, 60_000);

  it('should say Redis is down (200, no queue data) and keep the upload box hidden without an API', async () => {
    const deadPort = await getPort({ host: '127.0.0.1' });
    const exporter = await startExporter({
      REDIS_URL: `redis://127.0.0.1:${deadPort}`,
      QUEUE_NAME: 'nowhere',
      LOG_LEVEL: 'silent',
      REDIS_TIMEOUT_MS: '200',
    });
    try {
      const res = await fetch(`${exporter.url}/api/status`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        redisUp: false,
        sampledAt: null,
        uploadUrl: null,
        windows: { rateSeconds: 120, utilizationSeconds: 60 },
        storage: { redisUsedBytes: null, redisMaxBytes: null, blobBytes: null },
        queues: [],
      });

      const view = await openPage(browser, `${exporter.url}/`, { width: 800, height: 600 });
      await waitForText(view, '#connection', 'Redis down');
      // Unknown, not empty: the lists say so instead of "No failed jobs." / "No live workers.".
      await waitForText(view, '#failures-empty', 'Unknown while Redis cannot be reached.');
      await waitForText(view, '#workers-empty', 'Unknown while Redis cannot be reached.');
      await waitForText(view, '#job-message', 'Jobs are unknown while Redis cannot be reached.');
      expect(await view.page.locator('#failures-empty').isVisible()).toBe(true);
      expect(await view.page.locator('#banner').isVisible()).toBe(true);
      expect(await view.page.locator('#upload-card').isVisible()).toBe(false);
      expect(view.errors).toEqual([]);
      await view.close();
    } finally {
      await exporter.close();
    }
  }, 30_000);

  it('should protect the page, its assets and /api/status with METRICS_AUTH, but not /healthz', async () => {
    const exporter = await startExporter(
      await testEnv(redis, { METRICS_AUTH: 'basic:ops:s3cret-pass' }),
    );
    const basic = `Basic ${Buffer.from('ops:s3cret-pass').toString('base64')}`;
    try {
      for (const path of ['/', '/assets/status.js', '/assets/uplot.min.js', '/api/status']) {
        const denied = await fetch(`${exporter.url}${path}`);
        expect(denied.status, path).toBe(401);
        expect(denied.headers.get('www-authenticate'), path).toBe('Basic realm="qscale"');
        const allowed = await fetch(`${exporter.url}${path}`, {
          headers: { Authorization: basic },
        });
        expect(allowed.status, path).toBe(200);
      }
      expect((await fetch(`${exporter.url}/healthz`)).status).toBe(200);
    } finally {
      await exporter.close();
    }
  });

  it('should serve the page with a strict content security policy and uPlot from the package', async () => {
    const exporter = await startExporter(await testEnv(redis), {
      uploadUrl: 'http://localhost:8080/api/v1/files',
    });
    try {
      const page = await fetch(`${exporter.url}/`);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const policy = page.headers.get('content-security-policy') ?? '';
      expect(policy).toContain("script-src 'self'");
      expect(policy).toContain("connect-src 'self' http://localhost:8080");
      const html = await page.text();
      expect(html).toContain('assets/uplot.min.js');
      const uplot = await fetch(`${exporter.url}/assets/uplot.min.js`);
      expect(uplot.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await uplot.text()).toContain('uPlot');
      expect((await fetch(`${exporter.url}/assets/../package.json`)).status).toBe(404);
      expect((await fetch(`${exporter.url}/assets/nope.js`)).status).toBe(404);
    } finally {
      await exporter.close();
    }
  });

  it('should refuse an upload URL that is not absolute http(s)', async () => {
    const env = await testEnv(redis);
    await expect(startExporter(env, { uploadUrl: '/api/v1/files' })).rejects.toThrow(
      /uploadUrl must be an absolute http\(s\) URL/,
    );
  });
});
