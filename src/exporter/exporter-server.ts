import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerOptions } from 'node:http';
import type { RedisClient } from '../redis/redis-connection.js';
import { Registry, type RegistryContentType } from 'prom-client';
import type { Config } from '../config/config.js';
import { credentialsOf } from '../http/authorization.js';
import type { Logger } from '../config/logger.js';
import type { QueueJobs } from '../queue/queue-jobs.js';
import { ConsoleAccess } from './console/console-access.js';
import { createConsoleRouter } from './console/console-router.js';
import type { ConsoleContext } from './console/console-context.js';
import { createExporterApp } from './exporter-app.js';
import { createExporterRegistry } from './exporter-metrics.js';
import type { ScrapeSource } from './scrape-source.js';
import { createStatusAssets, StatusApi, statusPagePolicy } from './status-api.js';
import type { SizingObjective } from '../scaling/worker-sizing.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * The sidecar's requests are small (a scrape, a page, a console action of at most 16 KiB), so a
 * client gets 10 s for its headers and 15 s for the whole request (Node's defaults are 60 s and
 * 300 s), checked every 2 s: a client that sends slowly holds a socket for seconds, not minutes.
 * Idle keep-alive connections close after 5 s (Node's default).
 */
export const EXPORTER_SERVER_TIMEOUTS = {
  headersTimeout: 10_000,
  requestTimeout: 15_000,
  connectionsCheckingInterval: 2_000,
} as const satisfies ServerOptions;

/**
 * Checks METRICS_AUTH (bearer token or basic auth; the scheme in any case) in constant time;
 * always true when unset.
 */
export function createMetricsAuth(
  auth: Config['metrics']['auth'],
): (req: IncomingMessage) => boolean {
  if (!auth) return () => true;
  const expected = digest(
    auth.kind === 'bearer'
      ? auth.token
      : Buffer.from(`${auth.user}:${auth.password}`).toString('base64'),
  );
  return (req) => {
    const presented = credentialsOf(req.headers.authorization, auth.kind);
    return presented !== undefined && timingSafeEqual(digest(presented), expected);
  };
}

export interface ExporterServerOptions {
  source: ScrapeSource;
  metrics: Config['metrics'];
  sizing: SizingObjective;
  /** RATE_WINDOW_SECONDS of the rates the status page shows. */
  rateWindowSeconds?: number;
  logger: Logger;
  /** Registers more metrics (e.g. the local autoscaler's) in each exposition format's registry. */
  registerMore?: (registry: Registry<RegistryContentType>) => void;
  /** A client for the status page's recent-failures read (read-only); without it none are listed. */
  redis?: RedisClient;
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
 *
 * One Express app answers every request (`createExporterApp`: its routes and answers); this
 * function wires what they read. The server is Node's, with {@link EXPORTER_SERVER_TIMEOUTS}.
 */
export function createExporterServer(options: ExporterServerOptions): Server {
  const { source, metrics, logger } = options;
  const metricOptions = {
    buckets: metrics.buckets,
    perWorker: metrics.perWorker,
    sizing: options.sizing,
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
  const consoleRouter =
    options.jobs &&
    createConsoleRouter({
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
    sizing: options.sizing,
    logger,
    ...(options.redis && { redis: options.redis }),
    windows: {
      ...(options.rateWindowSeconds !== undefined && { rateSeconds: options.rateWindowSeconds }),
      utilizationSeconds: options.metrics.utilizationWindowSeconds,
    },
    ...(uploadUrl !== undefined && { uploadUrl }),
    ...(options.statusExtras && { extras: options.statusExtras }),
  });

  const app = createExporterApp({
    scrape: async (wantsOpenMetrics) => {
      const registry = wantsOpenMetrics ? openMetrics : prometheus;
      return { contentType: registry.contentType, body: await scrape(registry) };
    },
    status: () => status.read(),
    assets: createStatusAssets(),
    pagePolicy: statusPagePolicy(uploadUrl),
    authorized,
    authKind: metrics.auth?.kind,
    logger,
    ...(consoleRouter && { console: consoleRouter }),
  });
  return createServer(EXPORTER_SERVER_TIMEOUTS, app);
}
