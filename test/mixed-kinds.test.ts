import { rm } from 'node:fs/promises';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { celerySend, CeleryWorker } from '../harness/celery.js';
import { find, sumOf, type PromSample } from '../harness/prom-text.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { rqEnqueue, RqWorker } from '../harness/rq.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { scrapeUntil } from '../harness/scrape-until.js';
import { testEnv } from '../harness/stack.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One sidecar for three apps on one Redis: a BullMQ queue with plain BullMQ workers, a Python RQ
 * queue with a real `rq worker`, a Celery queue with a real Celery worker (-E). Each kind's numbers
 * come out side by side in /metrics and through KEDA's GetMetrics.
 */
describe('a sidecar watching BullMQ, RQ and Celery queues at once', () => {
  const bull = uniqueQueueName('mixed_bull');
  const rq = uniqueQueueName('mixed_rq');
  const celery = uniqueQueueName('mixed_celery');
  let redis: TestRedisServer;
  let exporter: RunningExporter;
  let scaler: ScalerClient;
  let env: Env;
  let queue: Queue;
  let bullWorker: Worker | undefined;
  let bullConnection: Redis | undefined;
  let queueConnection: Redis | undefined;
  let rqWorker: RqWorker | undefined;
  let celeryWorker: CeleryWorker | undefined;

  const value = (samples: PromSample[], metric: string, name: string, labels = {}) =>
    sumOf(samples, metric, { queue: name, ...labels });
  const until = (check: (samples: PromSample[]) => boolean) =>
    scrapeUntil(`${exporter.url}/metrics`, check, 25_000);
  const backlogOf = async (address: string) =>
    (await scaler.getMetrics({ queue: address, mode: 'backlog', includeActive: 'false' }))
      .metricValues[0]!.metricValue;

  beforeAll(async () => {
    redis = await startRedisServer();
    env = await testEnv(redis, {
      QUEUES: `bullmq:bull/${bull},rq:${rq},celery:${celery}`,
      HOST: '127.0.0.1',
      SAMPLE_TTL_MS: '0',
      HISTORY: 'off',
    });
    const config = loadConfig(env);
    exporter = await runExporter(config, createLogger(config, 'test'));
    scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
    queueConnection = redis.client();
    queue = new Queue(bull, { connection: queueConnection });
  }, 30_000);

  afterAll(async () => {
    await bullWorker?.close();
    bullConnection?.disconnect();
    await rqWorker?.stop();
    await celeryWorker?.kill();
    await queue?.close();
    queueConnection?.disconnect();
    scaler?.close();
    await exporter?.close();
    await redis?.stop();
    if (env?.UPLOAD_DIR) await rm(env.UPLOAD_DIR, { recursive: true, force: true });
  });

  it('should report each queue as its kind counts it, in /metrics and to KEDA', async () => {
    await queue.addBulk(Array.from({ length: 3 }, (_, i) => ({ name: 'job', data: { i } })));
    await rqEnqueue(
      redis.port,
      rq,
      Array.from({ length: 4 }, () => ({ fn: 'work' as const, args: [0.2] })),
    );
    await celerySend(
      redis.port,
      celery,
      Array.from({ length: 5 }, () => ({ fn: 'work' as const, args: [0.2] })),
    );
    const before = await until(
      (s) =>
        value(s, 'qscale_queue_length', bull) === 3 &&
        value(s, 'qscale_queue_length', rq) === 4 &&
        value(s, 'qscale_queue_length', celery) === 5,
    );
    expect(
      [bull, rq, celery].map(
        (name) => find(before, 'qscale_queue_length', { queue: name })[0]!.labels,
      ),
    ).toEqual([
      { queue: bull, prefix: 'bull', kind: 'bullmq' },
      { queue: rq, prefix: 'rq', kind: 'rq' },
      { queue: celery, prefix: 'celery', kind: 'celery' },
    ]);
    expect(await backlogOf(`bullmq:bull/${bull}`)).toBe(3);
    expect(await backlogOf(`rq:${rq}`)).toBe(4);
    expect(await backlogOf(`celery:${celery}`)).toBe(5);

    bullConnection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    bullWorker = new Worker(bull, async () => sleep(100), {
      connection: bullConnection,
    });
    rqWorker = new RqWorker(redis.port, [rq], 'mixed-rq');
    celeryWorker = new CeleryWorker(redis.port, celery, 'mixed', { events: true, concurrency: 2 });
    const after = await until(
      (s) =>
        value(s, 'qscale_jobs_processed_total', bull) === 3 &&
        value(s, 'qscale_jobs_processed_total', rq) === 4 &&
        value(s, 'qscale_jobs_processed_total', celery) === 5,
    );
    for (const name of [bull, rq, celery]) {
      expect(value(after, 'qscale_queue_length', name)).toBe(0);
      expect(value(after, 'qscale_job_processing_seconds_count', name), name).toBeGreaterThan(0);
    }
    expect(value(after, 'qscale_workers', rq)).toBe(1);
    expect(value(after, 'qscale_workers', celery)).toBe(1);
    for (const address of [`bullmq:bull/${bull}`, `rq:${rq}`, `celery:${celery}`]) {
      expect(await backlogOf(address)).toBe(0);
    }
  }, 60_000);
});
