import type { Server } from 'node:http';
import { CoreV1Api } from '@kubernetes/client-node';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { createExporterServer, type ExporterServerOptions } from '../exporter/exporter-server.js';
import { ScrapeSource } from '../exporter/scrape-source.js';
import { QueueWatchers } from '../keda/queue-watchers.js';
import { startScalerServer, type RunningScalerServer } from '../keda/scaler-server.js';
import { loadKubeConfig } from '../k8s/kube-config.js';
import { PodDeletionCostKeeper } from '../k8s/pod-deletion-cost-keeper.js';
import { createQueueJobs } from '../jobs/create-queue-jobs.js';
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

/**
 * With POD_DELETION_COST=on, keeps each worker pod's deletion cost equal to its busy slots, so a
 * scale-in removes idle workers first. Without a cluster to talk to it says so and does nothing.
 */
function startDeletionCostKeeper(
  config: Config,
  signals: ScalingSignals,
  logger: Logger,
): PodDeletionCostKeeper | undefined {
  let loaded: ReturnType<typeof loadKubeConfig>;
  try {
    loaded = loadKubeConfig(process.env);
  } catch (error) {
    logger.warn({ err: error }, 'POD_DELETION_COST=on but the kubeconfig cannot be read');
    return undefined;
  }
  if (!loaded) {
    logger.warn(
      'POD_DELETION_COST=on but there is no in-cluster service account or kubeconfig: deletion costs are not kept',
    );
    return undefined;
  }
  const keeper = new PodDeletionCostKeeper({
    signals,
    core: loaded.kc.makeApiClient(CoreV1Api),
    namespace: config.kubernetes.namespace ?? loaded.namespace,
    intervalSeconds: config.kubernetes.podDeletionCostIntervalSeconds,
    logger,
  });
  keeper.start();
  logger.info(
    { namespace: config.kubernetes.namespace ?? loaded.namespace },
    'keeping worker pods’ pod-deletion-cost up to date',
  );
  return keeper;
}

/** How often the sidecar reads the queues by itself while any queue's numbers are derived. */
export const DERIVED_READ_INTERVAL_MS = 2000;

/** After a KEDA call, the sidecar keeps reading the queues regularly for this long. */
const SCALING_READS_FOR_MS = 5 * 60_000;

/**
 * Reads the queues by itself, whether or not anyone scrapes:
 * - every {@link DERIVED_READ_INTERVAL_MS} while any of them has workers without qscale
 *   telemetry: their derived counters come from BullMQ's events stream, which keeps only the
 *   latest ~10 000 events (about 2 500 jobs), so reading it every 2 s keeps them complete up to
 *   ~1 000 jobs/s where a 15 s scrape alone would miss jobs above ~150 jobs/s;
 * - every {@link ScalingSignals.regularReadMs} (2 s at the default rate window) for 5 minutes after
 *   a KEDA call: the arrival rate the decision sizes with needs regular points to see a step up
 *   within seconds, which KEDA's polls and Prometheus' scrapes (15 s or more apart) do not give.
 * Otherwise (exact telemetry, no autoscaler asking) the timer does nothing.
 */
function keepQueuesRead(signals: ScalingSignals, logger: Logger): NodeJS.Timeout {
  let reading = false;
  const everyMs = Math.min(DERIVED_READ_INTERVAL_MS, signals.regularReadMs);
  const timer = setInterval(() => {
    // Decided by the latest read, whoever made it: nothing before the first scrape or KEDA call,
    // and nothing while scrapes or KEDA's calls read often enough by themselves.
    const latest = signals.latest;
    if (reading || !latest) return;
    const now = Date.now();
    const derived = latest.queues.some((q) => q.telemetry === 'derived' && q.kind !== 'rq');
    const scaling = now - signals.scalingReadAt < SCALING_READS_FOR_MS;
    const interval = scaling ? signals.regularReadMs : derived ? DERIVED_READ_INTERVAL_MS : 0;
    if (interval === 0 || now - latest.sampledAt < interval - everyMs / 2) return;
    reading = true;
    signals
      .read({ maxAgeMs: interval })
      .catch((error: unknown) => logger.debug({ err: error }, 'background read failed'))
      .finally(() => {
        reading = false;
      });
  }, everyMs);
  timer.unref();
  return timer;
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
  const { signals, keys } = scalingSignalsFor(config, redis, config.metrics.queues, {
    readMemory: true,
  });
  const watchers = new QueueWatchers(
    redis,
    new Map(keys.map((k) => [k.queue, k])),
    signals,
    logger,
  );
  const jobs = new Map(keys.map((k) => [k.queue, createQueueJobs(redis, k)]));
  const keyOf = new Map(keys.map((k) => [k.queue, k]));
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
    queuePrefix: config.queue.prefix,
    queuePrefixes: config.metrics.queuePrefixes,
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
    async () => recorder?.close(),
    () => Promise.all([...jobs.values()].map((queueJobs) => queueJobs.close())),
    () => redis.quit(),
  ];
  const keeper = keepQueuesRead(signals, logger);
  closeSteps.unshift(async () => clearInterval(keeper));
  const stopPriors = loadQueuePriors(redis, keys, signals, logger);
  closeSteps.unshift(async () => stopPriors());
  recorder?.start();
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
    const scaler = await startScalerServer({ config, signals, watchers, logger });
    closeSteps.unshift(() => scaler.close());
    if (config.kubernetes.podDeletionCost) {
      const keeper = startDeletionCostKeeper(config, signals, logger);
      if (keeper) closeSteps.unshift(() => keeper.close());
    }
    const url = `http://localhost:${port}`;
    logger.info(
      { url, metrics: `${url}/metrics`, statusPage: `${url}/`, queues: config.metrics.queues },
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
