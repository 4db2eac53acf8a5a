import type { Server } from 'node:http';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import { createExporterServer } from '../exporter/exporter-server.js';
import { ScrapeSource } from '../exporter/scrape-source.js';
import { QueueKeys } from '../queue/queue-keys.js';
import { QueueSampler } from '../queue/queue-sampler.js';
import { createRedis } from '../queue/redis-connection.js';
import { closeAll } from './close-all.js';
import { closeServer, listen } from './http-listen.js';

/** The metrics port when METRICS_PORT is not set, if it is free. */
export const PREFERRED_METRICS_PORT = 9464;

export interface RunningExporter {
  server: Server;
  sampler: QueueSampler;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts the exporter: `/metrics` for every queue in QUEUES, read-only against Redis. */
export async function runExporter(config: Config, logger: Logger): Promise<RunningExporter> {
  const redis = createRedis(config.redis, {
    role: 'request',
    connectionName: `qscale:exporter:${config.worker.id}`,
  });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  const sampler = new QueueSampler(
    redis,
    config.metrics.queues.map((queue) => new QueueKeys(config.queue.prefix, queue)),
    { ttlMs: config.metrics.sampleTtlMs, timeoutMs: config.metrics.redisTimeoutMs },
  );
  const server = createExporterServer({
    source: new ScrapeSource(sampler, logger),
    metrics: config.metrics,
    logger,
  });
  const actualPort = await listen(
    server,
    config.metrics.port,
    PREFERRED_METRICS_PORT,
    config.http.host,
  );
  const url = `http://localhost:${actualPort}`;
  logger.info(
    { url, metrics: `${url}/metrics`, queues: config.metrics.queues },
    `exporter listening: curl ${url}/metrics`,
  );
  let closing: Promise<void> | undefined;
  return {
    server,
    sampler,
    port: actualPort,
    url,
    close: () =>
      (closing ??= closeAll(logger, [
        () => closeServer(server),
        () => redis.quit().then(() => undefined),
        async () => logger.info('exporter stopped'),
      ])),
  };
}
