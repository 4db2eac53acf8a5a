import getPort from 'get-port';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { LocalAutoscaler } from '../supervisor/local-autoscaler.js';
import type { Lifecycle } from '../supervisor/lifecycle.js';
import { PrivateRedis, wantsPrivateRedis } from '../supervisor/private-redis.js';
import { SidecarFile } from '../supervisor/sidecar-file.js';
import { PREFERRED_PORT, runApp } from './run-app.js';
import { PREFERRED_METRICS_PORT, runExporter } from './run-exporter.js';
import { runWorker } from './run-worker.js';
import type { TerminalStatus } from './terminal-status.js';

/** A private redis-server in REDIS_DATA_DIR; a failed start still removes the pid files it wrote. */
async function startPrivateRedis(config: Config, logger: Logger): Promise<PrivateRedis> {
  const redis = new PrivateRedis(config.redis.dataDir, logger);
  await redis.start().catch(async (error: unknown) => {
    await redis.close();
    throw error;
  });
  return redis;
}

/** A port set (not 0) as it is; else the preferred one if free (unset), else any free one. */
async function concretePort(port: number | undefined, preferred: number): Promise<number> {
  if (port === undefined) return getPort({ port: preferred });
  return port === 0 ? getPort() : port;
}

/**
 * The settings of the whole stack, settled once: the Redis to use, both ports (concrete ones, so
 * the page knows where to upload) and the page's origins allowed by the API.
 */
async function settle(config: Config, redisUrl: string | undefined): Promise<Config> {
  const appPort = await concretePort(config.http.port, PREFERRED_PORT);
  const metricsPort = await concretePort(config.metrics.port, PREFERRED_METRICS_PORT);
  const pageOrigins = ['localhost', '127.0.0.1'].map((host) => `http://${host}:${metricsPort}`);
  return {
    ...config,
    redis: redisUrl ? { ...config.redis, url: redisUrl } : config.redis,
    http: {
      ...config.http,
      port: appPort,
      corsOrigins: [...config.http.corsOrigins, ...pageOrigins],
    },
    metrics: { ...config.metrics, port: metricsPort },
  };
}

/**
 * `qscale start`: the single-replica stack in one process tree — a private redis-server when no
 * REDIS_URL is set, the built-in worker (or, with --autoscale, worker processes sized by the local
 * autoscaler), the sidecar (metrics, status page, console, KEDA scaler) and the upload API. Each
 * part is started through `lifecycle`, which stops them all on a signal or a failed start.
 */
export async function runStack(
  base: Config,
  logger: Logger,
  lifecycle: Lifecycle,
  terminal?: TerminalStatus,
): Promise<void> {
  const privateRedis = wantsPrivateRedis(base.redis)
    ? await lifecycle.start(() => startPrivateRedis(base, logger))
    : undefined;
  const config = await settle(base, privateRedis?.url);

  if (!config.autoscale.enabled) await lifecycle.start(() => runWorker(config, logger));
  // --autoscale: worker processes sized by the same decision as the KEDA scaler, from the
  // sidecar's signals; its metrics and last decision go on /metrics and the page.
  const autoscaler = config.autoscale.enabled ? new LocalAutoscaler({ config, logger }) : undefined;
  const exporter = await lifecycle.start(() =>
    runExporter(config, logger, {
      uploadUrl: `http://localhost:${config.http.port}/api/v1/files`,
      ...(autoscaler && {
        registerMore: (registry) => autoscaler.registerMetrics(registry),
        statusExtras: () => ({ autoscaler: autoscaler.state() }),
      }),
    }),
  );
  // `qscale jobs` in this directory finds the sidecar, whatever the Redis.
  await lifecycle.start(() =>
    SidecarFile.record(config.redis.dataDir, `http://127.0.0.1:${exporter.port}`),
  );
  if (autoscaler) await lifecycle.start(async () => autoscaler.start(exporter.signals));
  await lifecycle.start(() => runApp(config, logger));
  if (terminal) {
    await lifecycle.start(async () => {
      terminal.follow(exporter.signals, config.queue.name, config.scaler.sizing, logger);
      return terminal;
    });
  }
}
