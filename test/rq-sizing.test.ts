import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { rqEnqueue, rqLen, RqWorker } from '../harness/rq.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { testEnv } from '../harness/stack.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The case an outside review tried on the reference deployment's queue kind: a real `rq worker`
 * that finishes exactly what arrives, two dozen jobs waiting behind it. Sizing the arrivals at 100 %
 * leaves that backlog forever; the wait objective must ask for more than the arrivals' load.
 */
describe('workers mode on a Python RQ queue at capacity', () => {
  const name = uniqueQueueName('rq_sizing');
  const JOB_SECONDS = 0.4;
  let redis: TestRedisServer;
  let exporter: RunningExporter;
  let scaler: ScalerClient;
  let env: Env;
  let worker: RqWorker | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    env = await testEnv(redis, {
      QUEUES: `rq:${name}`,
      HOST: '127.0.0.1',
      SAMPLE_TTL_MS: '0',
      METRICS_PORT: '0',
      KEDA_PORT: '0',
      // A 12 s window (slices of 0.3 s): the test's stream is measured within seconds.
      RATE_WINDOW_SECONDS: '12',
      HISTORY: 'off',
    });
    const config = loadConfig(env);
    exporter = await runExporter(config, createLogger(config, 'test'));
    scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
  }, 30_000);

  afterAll(async () => {
    await worker?.stop();
    scaler?.close();
    await exporter?.close();
    await redis?.stop();
    if (env?.UPLOAD_DIR) await rm(env.UPLOAD_DIR, { recursive: true, force: true });
  });

  it('should ask for more workers than the one that cannot keep up while a backlog waits', async () => {
    const metadata = { queue: `rq:${name}`, mode: 'workers', targetWaitSeconds: '30' };
    const desired = async () =>
      (await scaler.getMetrics(metadata)).metricValues[0]!.metricValueFloat;
    // Two dozen jobs wait; one worker (RQ runs one job at a time) takes them.
    await rqEnqueue(
      redis.port,
      name,
      Array.from({ length: 24 }, () => ({ fn: 'work' as const, args: [JOB_SECONDS] })),
    );
    worker = new RqWorker(redis.port, [name], 'rq-sizing-1');
    await desired(); // a KEDA call: the sidecar now reads the queue regularly
    // A stream above the worker's capacity (10 jobs every 2 s = 5 jobs/s of 0.4 s: 2 busy slots
    // for 1) for 12 s: the backlog cannot shrink. Even at half that rate (enqueueing runs Python,
    // slower on a loaded machine) the load is the one worker's whole capacity.
    for (let batch = 0; batch < 6; batch++) {
      await rqEnqueue(
        redis.port,
        name,
        Array.from({ length: 10 }, () => ({ fn: 'work' as const, args: [JOB_SECONDS] })),
      );
      await sleep(2000);
    }
    expect(await rqLen(redis.port, name)).toBeGreaterThanOrEqual(12);
    // The offered load is at least the one worker's slot: at least 2 workers (Erlang C keeps
    // utilization below 100 %), as the sizing measured it from RQ's own registries.
    await vi.waitFor(async () => expect(await desired()).toBeGreaterThanOrEqual(2), {
      timeout: 10_000,
      interval: 250,
    });
  }, 60_000);
});
