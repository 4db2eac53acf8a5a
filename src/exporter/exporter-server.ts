import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Registry, type RegistryContentType } from 'prom-client';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { createExporterRegistry } from './exporter-metrics.js';
import type { ScrapeSource } from './scrape-source.js';

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
  logger: Logger;
  /** Registers more metrics (e.g. the local autoscaler's) in each exposition format's registry. */
  registerMore?: (registry: Registry<RegistryContentType>) => void;
}

/**
 * The exporter's HTTP server: `/metrics` (Prometheus text, or OpenMetrics when the scraper asks for
 * it) and `/healthz`. Scrapes run one at a time; concurrent ones wait for the current one and then
 * reuse its Redis read through the sampler's cache.
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
  let queue: Promise<unknown> = Promise.resolve();

  const scrape = (registry: Registry<RegistryContentType>): Promise<string> => {
    const run = queue.then(async () => {
      await source.refresh();
      return registry.metrics();
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
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
    if (path !== '/metrics') {
      res
        .writeHead(404, { 'Content-Type': 'text/plain' })
        .end('Not found: try /metrics or /healthz\n');
      return;
    }
    if (!authorized(req)) {
      res
        .writeHead(401, {
          'Content-Type': 'text/plain',
          'WWW-Authenticate':
            metrics.auth?.kind === 'basic' ? 'Basic realm="qscale"' : 'Bearer realm="qscale"',
        })
        .end('Unauthorized: /metrics needs the credentials set in METRICS_AUTH\n');
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
