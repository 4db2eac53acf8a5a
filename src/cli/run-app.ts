import { createServer, type Server, type ServerOptions } from 'node:http';
import type { Config } from '../config/config.js';
import type { Logger } from '../config/logger.js';
import type { ApiContext } from '../app/api-context.js';
import { createApp } from '../app/express-adapter.js';
import { heldJobReleaser } from '../app/held-job-releaser.js';
import { IdempotencyStore } from '../app/idempotency.js';
import { ReplicaAcker } from '../app/replica-acker.js';
import { UploadSettler } from '../app/upload-settler.js';
import { RetentionSweeper } from '../app/retention-sweeper.js';
import { UploadSweeper } from '../app/upload-sweeper.js';
import { createEmbedder } from '../embedding/create-embedder.js';
import { createFileQueue } from '../pipeline/file-queue.js';
import { FileRecords } from '../pipeline/file-records.js';
import { QueueKeys } from '../queue/queue-keys.js';
import { QueueSampler } from '../sampling/queue-sampler.js';
import { createRedis } from '../redis/redis-connection.js';
import { LocalBlobStorage } from '../storage/local-blob-storage.js';
import { closeAll } from '../supervisor/close-all.js';
import { closeServer, listen } from './http-listen.js';

/** The port the API listens on when PORT is not set, if it is free. */
export const PREFERRED_PORT = 8080;

export interface RunningApp {
  context: ApiContext;
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Builds the handlers' context from the config. The caller closes `redis` and `queue`. */
export function createApiContext(config: Config, logger: Logger): ApiContext {
  const redis = createRedis(config.redis, {
    role: 'request',
    connectionName: `qscale:app:${config.worker.id}`,
  });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  const keys = new QueueKeys(config.queue.prefix, config.queue.name);
  const queue = createFileQueue(config, redis);
  queue.on('error', (error) => logger.debug({ err: error }, 'queue error'));
  const records = new FileRecords(redis, keys);
  const storage = new LocalBlobStorage(config.http.uploadDir);
  const { minReplicasAck, ackTimeoutMs, timeoutMs } = config.redis;
  /** Whether something can promote a replica by itself: Sentinel or Cluster. */
  const failoverManaged =
    (config.redis.sentinels?.length ?? 0) > 0 || (config.redis.clusterNodes?.length ?? 0) > 0;
  const acker =
    minReplicasAck > 0
      ? new ReplicaAcker(
          createRedis(config.redis, {
            role: 'request',
            connectionName: `qscale:app-ack:${config.worker.id}`,
            // WAIT may take the whole ack timeout; the deadline comes after it.
            commandTimeoutMs: ackTimeoutMs + timeoutMs,
          }).on('error', (error) => logger.debug({ err: error }, 'redis connection error')),
          keys.bull('qscale:ack-probe'),
          { replicas: minReplicasAck, timeoutMs: ackTimeoutMs },
        )
      : undefined;
  const releaseHeld = heldJobReleaser({ acker, minReplicasAck, queue, keys, logger });
  return {
    config,
    logger,
    redis,
    queue,
    keys,
    records,
    // The backlog guard's reads are shared for SAMPLE_TTL_MS, as its documentation says (0: a
    // fresh read for every upload; only with MAX_QUEUE_BACKLOG set, else it reads nothing).
    sampler: new QueueSampler(redis, keys, {
      ttlMs: config.metrics.sampleTtlMs,
      timeoutMs: config.redis.timeoutMs,
    }),
    storage,
    embedder: createEmbedder(config.embedding),
    idempotency: new IdempotencyStore(redis, keys, config.http.idempotencyTtlSeconds),
    ...(acker && { acker }),
    settler: new UploadSettler(records, storage, logger, {
      afterKept: releaseHeld,
      ...(acker && {
        // Confirmed by the replicas required; or a single Redis (no Sentinel, no Cluster) that
        // has no replica at all, so no failover can bring back what the decision undid (a
        // refused upload's blob then goes at once instead of after 10 tries, 10-20 s). Under
        // Sentinel or Cluster "no replica" is exactly what a primary being failed over sees (its
        // replica was promoted, it is demoted next): a decision there is not durable.
        isDurable: async (marker: string) =>
          (await acker.confirm([marker])) >= minReplicasAck ||
          (!failoverManaged && (await acker.connectedReplicas()) === 0),
      }),
    }),
  };
}

/**
 * Node's limits on receiving a request. Node cuts any request still arriving after 300 s by
 * default, which a large upload from a slow client outlasts: the whole-request limit is
 * REQUEST_TIMEOUT_SECONDS instead (0: none). The upload handler answers it first, at the limit,
 * with a 408 that says so; Node's own cut (checked every 30 s) is a backstop for every route.
 * Headers must arrive within 60 s (Node's default), or within the whole limit when it is shorter.
 */
function apiServerTimeouts(config: Config): ServerOptions {
  const { requestTimeoutSeconds } = config.http;
  const requestTimeout = requestTimeoutSeconds > 0 ? (requestTimeoutSeconds + 30) * 1000 : 0;
  return {
    requestTimeout,
    headersTimeout: requestTimeout > 0 ? Math.min(60_000, requestTimeout) : 60_000,
  };
}

/** How long the API waits for its Redis connection before it listens anyway. */
const REDIS_STARTUP_WAIT_MS = 5000;

function waitUntilReady(redis: ApiContext['redis'], timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}

/** Starts the upload API. Without PORT it takes 8080, or any free port when 8080 is busy. */
export async function runApp(config: Config, logger: Logger): Promise<RunningApp> {
  const context = createApiContext(config, logger);
  // Give Redis a moment before taking requests, so the first uploads are not answered 503 while
  // the connection is still being made; with Redis down the API starts anyway (/readyz says 503).
  await waitUntilReady(context.redis, REDIS_STARTUP_WAIT_MS);
  const server = createServer(apiServerTimeouts(config), createApp(context));
  const actualPort = await listen(server, config.http.port, PREFERRED_PORT, config.http.host);
  const url = `http://localhost:${actualPort}`;
  logger.info(
    {
      url,
      upload: `${url}/api/v1/files`,
      queue: config.queue.name,
      uploadDir: config.http.uploadDir,
    },
    `upload API listening: curl -F file=@README.md ${url}/api/v1/files`,
  );
  // Leftovers of crashes (this process's or another replica's): at start, then periodically.
  const sweeper = new UploadSweeper(context, {
    graceMs: config.http.sweep.graceSeconds * 1000,
    intervalMs: config.http.sweep.intervalSeconds * 1000,
    ownerName: config.worker.id,
  }).start();
  // Retention (finished files and jobs past their age or count): at start, then every interval.
  const retention = new RetentionSweeper(context, {
    fileMaxAgeMs: config.retention.fileSeconds * 1000,
    maxFiles: config.retention.maxFiles,
    completedJobMaxAgeMs: config.worker.keepCompletedSeconds * 1000,
    failedJobMaxAgeMs: config.worker.keepFailedSeconds * 1000,
    intervalMs: config.retention.intervalSeconds * 1000,
    ownerName: config.worker.id,
  }).start();
  let closing: Promise<void> | undefined;
  return {
    context,
    server,
    port: actualPort,
    url,
    close: () =>
      (closing ??= closeAll(logger, [
        () => closeServer(server),
        () => sweeper.close(),
        () => retention.close(),
        () => context.settler.close(),
        () => context.acker?.close() ?? Promise.resolve(),
        () => context.queue.close(),
        () => context.redis.quit().then(() => undefined),
        async () => logger.info('upload API stopped'),
      ])),
  };
}
