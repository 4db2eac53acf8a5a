import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { RedisClient } from '../queue/redis-connection.js';
import { Registry, type RegistryContentType } from 'prom-client';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import type { QueueJobs } from '../jobs/queue-jobs.js';
import { ConsoleAccess } from './console/console-access.js';
import { createConsoleApp } from './console/console-app.js';
import type { ConsoleContext } from './console/console-context.js';
import { createExporterRegistry } from './exporter-metrics.js';
import type { ScrapeSource } from './scrape-source.js';
import { assetBody, createStatusAssets, StatusApi, statusPagePolicy } from './status-api.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Checks METRICS_AUTH (bearer token or basic auth) in constant time; always true when unset. */
export function createMetricsAuth(
  auth: Config['metrics']['auth'],
): (req: IncomingMessage) => boolean {
  if (!auth) return () => true;
  const expected =
    auth.kind === 'bearer'
      ? digest(`Bearer ${auth.token}`)
      : digest(`Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`);
  return (req) => timingSafeEqual(digest((req.headers.authorization ?? '').trim()), expected);
}

export interface ExporterServerOptions {
  source: ScrapeSource;
  metrics: Config['metrics'];
  drainSeconds: number;
  /** RATE_WINDOW_SECONDS of the rates the status page shows. */
  rateWindowSeconds?: number;
  logger: Logger;
  /** Registers more metrics (e.g. the local autoscaler's) in each exposition format's registry. */
  registerMore?: (registry: Registry<RegistryContentType>) => void;
  /** A client for the status page's recent-failures read (read-only); without it none are listed. */
  redis?: RedisClient;
  /** QUEUE_PREFIX, to find the failed jobs of each queue. @defaultValue 'bull' */
  queuePrefix?: string;
  /** Per-queue prefixes (QUEUES' `bullmq:<prefix>/<name>`); `queuePrefix` for the rest. */
  queuePrefixes?: Readonly<Record<string, string>>;
  /** The upload API's `…/api/v1/files`, where the status page posts files; absent: no upload box. */
  uploadUrl?: string;
  /** Merged into `GET /api/status`, e.g. `() => ({ autoscaler: … })`. */
  statusExtras?: () => Record<string, unknown>;
  /** The watched queues' jobs for the operator console (`/api/v1/…`); absent: no console API. */
  jobs?: ReadonlyMap<string, QueueJobs>;
  /** ACTION_TOKEN: what the console's actions need; without it they are loopback-only. */
  actionToken?: string;
  /** Reads a queue's stored history for the page's charts (HISTORY=on). */
  history?: ConsoleContext['history'];
}

/**
 * The exporter's HTTP server: `/metrics` (Prometheus text, or OpenMetrics when the scraper asks for
 * it), `/healthz`, the live status page: `/` with its `/assets/*` and the JSON it polls,
 * `/api/status`, and the operator console's API under `/api/v1/` (jobs and actions on them).
 * Scrapes and status reads run one at a time; concurrent ones wait for the current
 * one and then reuse its Redis read through the sampler's cache.
 *
 * METRICS_AUTH, when set, protects everything but `/healthz`: the status page shows queue names,
 * worker ids and job errors, so it is no more public than `/metrics`. A browser can log in with
 * `basic:` credentials (it prompts, then resends them to `/api/status`); with a `bearer:` token
 * the page needs a proxy that adds the header.
 */
export function createExporterServer(options: ExporterServerOptions): Server {
  const { source, metrics, logger } = options;
  const metricOptions = {
    buckets: metrics.buckets,
    perWorker: metrics.perWorker,
    drainSeconds: options.drainSeconds,
  };
  const prometheus = createExporterRegistry(
    source,
    metricOptions,
    Registry.PROMETHEUS_CONTENT_TYPE,
  );
  const openMetrics = createExporterRegistry(
    source,
    metricOptions,
    Registry.OPENMETRICS_CONTENT_TYPE,
  );
  options.registerMore?.(prometheus);
  options.registerMore?.(openMetrics);
  const authorized = createMetricsAuth(metrics.auth);
  const consoleApp =
    options.jobs &&
    createConsoleApp({
      jobs: options.jobs,
      access: new ConsoleAccess({
        canRead: authorized,
        ...(options.actionToken !== undefined && { actionToken: options.actionToken }),
      }),
      logger,
      ...(options.history && { history: options.history }),
    });
  let queue: Promise<unknown> = Promise.resolve();

  const serialized = <T>(read: () => Promise<T>): Promise<T> => {
    const run = queue.then(read);
    queue = run.catch(() => undefined);
    return run;
  };
  const scrape = (registry: Registry<RegistryContentType>): Promise<string> =>
    serialized(async () => {
      await source.refresh();
      return registry.metrics();
    });

  const { uploadUrl } = options;
  // Validates uploadUrl (before the page policy below uses it).
  const status = new StatusApi({
    read: () =>
      serialized(async () => {
        await source.refresh();
        return source.sample;
      }),
    rates: (snapshot) => source.rates(snapshot),
    drainSeconds: options.drainSeconds,
    logger,
    ...(options.redis && { redis: options.redis }),
    ...(options.queuePrefix !== undefined && { queuePrefix: options.queuePrefix }),
    ...(options.queuePrefixes !== undefined && { queuePrefixes: options.queuePrefixes }),
    queueKinds: options.metrics.queueKinds,
    windows: {
      ...(options.rateWindowSeconds !== undefined && { rateSeconds: options.rateWindowSeconds }),
      utilizationSeconds: options.metrics.utilizationWindowSeconds,
    },
    ...(uploadUrl !== undefined && { uploadUrl }),
    ...(options.statusExtras && { extras: options.statusExtras }),
  });
  const assets = createStatusAssets();
  const pagePolicy = statusPagePolicy(uploadUrl);
  const securityHeaders = {
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (consoleApp && path.startsWith('/api/v1/')) {
      consoleApp(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' })
        .end('Method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    const asset = assets.get(path);
    if (path !== '/metrics' && path !== '/api/status' && !asset) {
      res
        .writeHead(404, { 'Content-Type': 'text/plain' })
        .end('Not found: try / (status page), /metrics or /healthz\n');
      return;
    }
    if (!authorized(req)) {
      res
        .writeHead(401, {
          'Content-Type': 'text/plain',
          'WWW-Authenticate':
            metrics.auth?.kind === 'basic' ? 'Basic realm="qscale"' : 'Bearer realm="qscale"',
        })
        .end(`Unauthorized: ${path} needs the credentials set in METRICS_AUTH\n`);
      return;
    }
    if (asset) {
      let body: Buffer;
      try {
        body = await assetBody(asset);
      } catch (error) {
        logger.error(
          { err: error, path },
          'status page file unreadable (the build copies src/exporter/status-page to dist/exporter/status-page)',
        );
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Status page file unreadable\n');
        return;
      }
      res.writeHead(200, {
        ...securityHeaders,
        'Content-Type': asset.contentType,
        'Content-Length': body.length,
        ...(path === '/' && {
          'Content-Security-Policy': pagePolicy,
          'X-Frame-Options': 'DENY',
        }),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/api/status') {
      const body = JSON.stringify(await status.read());
      res.writeHead(200, {
        ...securityHeaders,
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const wantsOpenMetrics = (req.headers.accept ?? '').includes('application/openmetrics-text');
    const registry = wantsOpenMetrics ? openMetrics : prometheus;
    const body = await scrape(registry);
    res.writeHead(200, { 'Content-Type': registry.contentType });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: error }, 'metrics request failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('Internal error\n');
    });
  });
}
