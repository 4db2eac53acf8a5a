import type { Server } from 'node:http';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { createExporterServer, type ExporterServerOptions } from '../exporter/exporter-server.js';
import { ScrapeSource } from '../exporter/scrape-source.js';
import { QueueWatchers } from '../keda/queue-watchers.js';
import { startScalerServer, type RunningScalerServer } from '../keda/scaler-server.js';
import { startDeletionCostKeeper } from '../k8s/start-deletion-cost-keeper.js';
import { keepQueuesRead } from '../exporter/background-reads.js';
import { QueueDiscovery } from '../kinds/queue-discovery.js';
import { watchedQueuesOf } from '../kinds/watched-queue.js';
import { HistoryRecorder, readHistory, readQueuePrior } from '../exporter/queue-history.js';
import type { QueueKeys } from '../queue/queue-keys.js';
import { createRedis, type RedisClient } from '../redis/redis-connection.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';
import { closeAll } from '../supervisor/close-all.js';
import { closeServer, listen } from './http-listen.js';
import { scalingSignalsFor } from '../scaling/scaling-signals-for.js';

/** The metrics port when METRICS_PORT is not set, if it is free. */
export const PREFERRED_METRICS_PORT = 9464;

export interface RunningExporter {
  server: Server;
  scaler: RunningScalerServer;
  signals: ScalingSignals;
  watchers: QueueWatchers;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Until it succeeds, the sidecar tries again to read the queues' stored history this often. */
const PRIOR_RETRY_MS = 30_000;

/**
 * Reads what each queue's stored history last measured (processing time, concurrency) and hands
 * it to the sizing as its prior for a queue with no job finished yet; tries again every 30 s for the
 * queues whose history could not be read (Redis down at start). Returns the function that stops it.
 */
function loadQueuePriors(
  redis: RedisClient,
  keys: readonly QueueKeys[],
  signals: ScalingSignals,
  logger: Logger,
): () => void {
  let pending = [...keys];
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = async () => {
    const failed: QueueKeys[] = [];
    for (const queueKeys of pending) {
      try {
        const prior = await readQueuePrior(redis, queueKeys);
        if (prior.processingSeconds !== undefined || prior.concurrency !== undefined) {
          signals.remember(queueKeys.queue, prior);
          logger.debug({ queue: queueKeys.queue, prior }, 'queue history read for sizing');
        }
      } catch (error) {
        logger.debug({ err: error, queue: queueKeys.queue }, 'queue history could not be read');
        failed.push(queueKeys);
      }
    }
    pending = failed;
    if (pending.length > 0 && !stopped) {
      timer = setTimeout(() => void attempt(), PRIOR_RETRY_MS);
      timer.unref();
    }
  };
  void attempt();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Starts the sidecar: `/metrics` for every queue in QUEUES on METRICS_PORT and KEDA's external
 * scaler on KEDA_PORT, both reading Redis read-only through one shared sampler.
 */
export interface RunExporterOptions {
  /** The upload API's `…/api/v1/files`, for the status page's upload box. */
  uploadUrl?: string;
  /** More metrics in each exposition format's registry (e.g. the local autoscaler's). */
  registerMore?: ExporterServerOptions['registerMore'];
  /** Merged into `GET /api/status`, e.g. `() => ({ autoscaler: … })`. */
  statusExtras?: ExporterServerOptions['statusExtras'];
}

export async function runExporter(
  config: Config,
  logger: Logger,
  options: RunExporterOptions = {},
): Promise<RunningExporter> {
  const redis = createRedis(config.redis, {
    role: 'request',
    connectionName: `qscale:exporter:${config.worker.id}`,
  });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  const discovery = new QueueDiscovery(redis, {
    named: watchedQueuesOf(config),
    patterns: config.metrics.queuePatterns,
    intervalMs: config.metrics.discoveryIntervalSeconds * 1000,
    maxQueues: config.metrics.maxDiscoveredQueues,
    logger,
  });
  const keysOf = (): QueueKeys[] => discovery.all().map((q) => q.keys);
  const { signals, sampler } = scalingSignalsFor(config, redis, keysOf(), { readMemory: true });
  // Live maps: discovery adds and removes queues in them.
  const keyOf = new Map(discovery.all().map((q) => [q.name, q.keys]));
  const jobs = new Map(discovery.all().map((q) => [q.name, q.driver.createJobs(redis, q.keys)]));
  const watchers = new QueueWatchers(redis, keyOf, signals, logger);
  const unwatchDiscovery = discovery.onChange(({ added, removed }) => {
    sampler.setQueues(keysOf());
    for (const queue of removed) {
      keyOf.delete(queue.name);
      jobs
        .get(queue.name)
        ?.close()
        .catch(() => undefined);
      jobs.delete(queue.name);
    }
    for (const queue of added) {
      keyOf.set(queue.name, queue.keys);
      jobs.set(queue.name, queue.driver.createJobs(redis, queue.keys));
    }
  });
  const recorder = config.metrics.history
    ? new HistoryRecorder({
        redis,
        keys: keyOf,
        read: () => signals.read().catch(() => undefined),
        rates: (snapshot) => signals.rates(snapshot),
        sizing: config.scaler.sizing,
        logger,
        owner: config.worker.id,
      })
    : undefined;
  const server = createExporterServer({
    source: new ScrapeSource(signals, logger),
    metrics: config.metrics,
    sizing: config.scaler.sizing,
    rateWindowSeconds: config.scaler.rateWindowSeconds,
    logger,
    redis,
    ...(options.uploadUrl && { uploadUrl: options.uploadUrl }),
    jobs,
    ...(recorder && {
      history: (queue: string, seconds: number) => readHistory(redis, keyOf.get(queue)!, seconds),
    }),
    ...(config.metrics.actionToken !== undefined && { actionToken: config.metrics.actionToken }),
    ...(options.registerMore && { registerMore: options.registerMore }),
    ...(options.statusExtras && { statusExtras: options.statusExtras }),
  });
  const closeSteps: (() => Promise<unknown>)[] = [
    async () => unwatchDiscovery(),
    () => discovery.close(),
    async () => recorder?.close(),
    () => Promise.all([...jobs.values()].map((queueJobs) => queueJobs.close())),
    () => sampler.close(),
    () => redis.quit(),
  ];
  const keeper = keepQueuesRead(signals, logger);
  closeSteps.unshift(async () => clearInterval(keeper));
  const stopPriors = loadQueuePriors(redis, keysOf(), signals, logger);
  closeSteps.unshift(async () => stopPriors());
  recorder?.start();
  discovery.start();
  // A first read now: derived counters count from the sidecar's start, not from its first scrape.
  void signals.read().catch((error: unknown) => logger.debug({ err: error }, 'first read failed'));
  try {
    const port = await listen(
      server,
      config.metrics.port,
      PREFERRED_METRICS_PORT,
      config.http.host,
    );
    closeSteps.unshift(() => closeServer(server));
    const scaler = await startScalerServer({
      config,
      signals,
      watchers,
      logger,
      served: () => discovery.all(),
    });
    closeSteps.unshift(() => scaler.close());
    const costKeeper = startDeletionCostKeeper(config, signals, logger);
    if (costKeeper) closeSteps.unshift(() => costKeeper.close());
    const url = `http://localhost:${port}`;
    logger.info(
      {
        url,
        metrics: `${url}/metrics`,
        statusPage: `${url}/`,
        queues: discovery.all().map((q) => q.address),
      },
      `exporter listening: status page ${url}/ , metrics ${url}/metrics`,
    );
    logger.info(
      { kedaPort: scaler.port, tls: scaler.tls, scalerAddress: `<this host>:${scaler.port}` },
      'KEDA external scaler listening',
    );
    let closing: Promise<void> | undefined;
    return {
      server,
      scaler,
      signals,
      watchers,
      port,
      url,
      close: () =>
        (closing ??= closeAll(logger, [
          ...closeSteps,
          async () => logger.info('exporter stopped'),
        ])),
    };
  } catch (error) {
    await closeAll(logger, closeSteps);
    throw error;
  }
}
