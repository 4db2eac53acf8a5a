import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runDoctor } from '../src/doctor/doctor.js';
import { celeryLen, celerySend, CeleryWorker } from '../harness/celery.js';
import { runCli } from '../harness/cli-process.js';
import { find, sumOf, type PromSample } from '../harness/prom-text.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { scrapeUntil } from '../harness/scrape-until.js';
import { testEnv } from '../harness/stack.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const TOKEN = 'celery-test-token-0123456789abcdef';

/** A sidecar watching `celery:<queue>` on its own Redis. */
async function startSidecar(redis: TestRedisServer, queue: string) {
  const env = await testEnv(redis, {
    QUEUES: `celery:${queue}`,
    HOST: '127.0.0.1',
    SAMPLE_TTL_MS: '0',
    HISTORY: 'off',
    ACTION_TOKEN: TOKEN,
  });
  const config = loadConfig(env);
  const exporter = await runExporter(config, createLogger(config, 'test'));
  const scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
  return { env, exporter, scaler };
}

/**
 * A Celery app as it runs in production: tasks sent with Celery's own API, run by real Celery
 * workers (Debian's python3-celery, kombu's Redis transport). The sidecar reads kombu's keys and
 * Celery's events (pub/sub), never writes them.
 */
describe('the sidecar for Celery queues', () => {
  describe('with workers that send events (-E)', () => {
    const queue = uniqueQueueName('celery_images');
    const JOB_SECONDS = 0.4;
    let redis: TestRedisServer;
    let exporter: RunningExporter;
    let scaler: ScalerClient;
    let env: Env;
    const workers: CeleryWorker[] = [];
    const value = (samples: PromSample[], metric: string, labels: Record<string, string> = {}) =>
      sumOf(samples, metric, { queue, ...labels });
    const until = (check: (samples: PromSample[]) => boolean) =>
      scrapeUntil(`${exporter.url}/metrics`, check, 20_000);

    beforeAll(async () => {
      redis = await startRedisServer();
      ({ env, exporter, scaler } = await startSidecar(redis, queue));
    }, 30_000);

    afterAll(async () => {
      await Promise.all(workers.map((w) => w.kill()));
      scaler?.close();
      await exporter?.close();
      await redis?.stop();
      if (env?.UPLOAD_DIR) await rm(env.UPLOAD_DIR, { recursive: true, force: true });
    });

    it('should report the backlog, then processed tasks, their times, live workers and busy slots', async () => {
      await celerySend(
        redis.port,
        queue,
        Array.from({ length: 6 }, (_, i) => ({
          fn: 'work' as const,
          args: [JOB_SECONDS],
          ...(i % 2 === 1 && { priority: 6 }),
        })),
      );
      const before = await until((s) => value(s, 'qscale_queue_length') === 6);
      expect(await celeryLen(redis.port, queue)).toBe(6);
      expect(find(before, 'qscale_queue_length', { queue })[0]!.labels).toEqual({
        queue,
        prefix: 'celery',
        kind: 'celery',
      });
      expect(value(before, 'qscale_queue_oldest_job_age_seconds')).toBeGreaterThan(0);
      const metadata = { queue: `celery:${queue}`, mode: 'backlog', includeActive: 'false' };
      expect((await scaler.getMetrics(metadata)).metricValues[0]!.metricValue).toBe(6);
      expect((await scaler.isActive(metadata)).result).toBe(true);

      const worker = new CeleryWorker(redis.port, queue, 'images', {
        events: true,
        concurrency: 2,
      });
      workers.push(worker);
      await worker.ready;
      const during = await until((s) => value(s, 'qscale_worker_busy_slots') === 2);
      expect(value(during, 'qscale_workers'), worker.output).toBe(1);
      expect(value(during, 'qscale_worker_concurrency', { worker: worker.hostname })).toBe(2);

      const after = await until((s) => value(s, 'qscale_jobs_processed_total') === 6);
      expect(value(after, 'qscale_queue_length')).toBe(0);
      expect(value(after, 'qscale_jobs_processed_total', { status: 'completed' })).toBe(6);
      expect(value(after, 'qscale_job_processing_seconds_count')).toBe(6);
      const mean = value(after, 'qscale_job_processing_seconds_sum') / 6;
      expect(mean).toBeGreaterThanOrEqual(JOB_SECONDS);
      expect(mean).toBeLessThan(JOB_SECONDS + 0.5);
      // task-sent → task-started: the tasks waited for the worker to start, and for a slot.
      expect(value(after, 'qscale_job_wait_seconds_count')).toBe(6);
      expect(value(after, 'qscale_jobs_enqueued_total')).toBe(6);
      expect((await scaler.isActive(metadata)).result).toBe(false);

      const report = await runDoctor(loadConfig(env));
      const live = report.checks.find((c) => c.name === 'live workers')!;
      // A one-shot doctor hears no events from the past: it says what it cannot know.
      expect(live.status).toBe('WARN');
      expect(live.fix).toContain('-E');
    }, 40_000);

    it('should show failures and offer only listing and purging in the console', async () => {
      await celerySend(redis.port, queue, [{ fn: 'fail', args: [0.1] }]);
      await until((s) => value(s, 'qscale_jobs_processed_total', { status: 'failed' }) === 1);
      const status = (await (await fetch(`${exporter.url}/api/status`)).json()) as {
        queues: {
          kind: string;
          kindLabel: string;
          telemetry: { source: string; workersKnown: boolean };
          workers: { live: number };
          recentFailures: { error: string; name: string }[];
        }[];
      };
      expect(status.queues[0]).toMatchObject({
        kind: 'celery',
        kindLabel: 'Celery',
        telemetry: { source: 'derived', workersKnown: true },
        workers: { live: 1 },
      });
      expect(status.queues[0]!.recentFailures[0]).toMatchObject({
        name: 'qscale_celery_tasks.fail',
        error: "ValueError('qscale test failure')",
      });

      await workers[0]!.stop();
      await celerySend(redis.port, queue, [
        { fn: 'work', args: [0] },
        { fn: 'work', args: [0], priority: 9 },
      ]);
      await until((s) => value(s, 'qscale_queue_length') === 2);
      const auth = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
      const base = `${exporter.url}/api/v1/queues/${queue}`;
      const list = (await (await fetch(`${base}/jobs?state=waiting`)).json()) as {
        total: number;
        jobs: { id: string; name: string }[];
      };
      expect(list.total).toBe(1);
      expect(list.jobs[0]!.name).toBe('qscale_celery_tasks.work(0,)');
      const retry = await fetch(`${base}/jobs/${list.jobs[0]!.id}/retry`, {
        method: 'POST',
        headers: auth,
      });
      expect(retry.status).toBe(400);
      const refusal = ((await retry.json()) as { error: { message: string } }).error.message;
      expect(refusal).toContain('Celery queues do not support "retry"');
      expect(refusal).toContain('cannot be retried');
      for (const state of ['waiting', 'prioritized']) {
        const purge = await fetch(`${base}/clean`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ state, olderThanSeconds: 0 }),
        });
        expect(purge.status).toBe(200);
        expect(((await purge.json()) as { count: number }).count).toBe(1);
      }
      expect(await celeryLen(redis.port, queue)).toBe(0);
    }, 40_000);

    it('should push true on StreamIsActive as soon as a task is sent to the empty queue', async () => {
      const received: { result: boolean; at: number }[] = [];
      const stream = scaler.client.StreamIsActive({
        name: 'so',
        namespace: 'ns',
        scalerMetadata: { queue: `celery:${queue}` },
      });
      stream.on('data', (message: { result: boolean }) =>
        received.push({ result: message.result, at: Date.now() }),
      );
      stream.on('error', () => undefined);
      try {
        await vi.waitFor(
          () => {
            if (received.length === 0) throw new Error('no first answer');
          },
          { timeout: 5000, interval: 20 },
        );
        expect(received[0]!.result).toBe(false);
        const sentAt = Date.now();
        await celerySend(redis.port, queue, [{ fn: 'work', args: [0] }]);
        await vi.waitFor(
          () => {
            if (!received.some((m) => m.result)) throw new Error(JSON.stringify(received));
          },
          { timeout: 5000, interval: 20 },
        );
        // The task-sent event wakes the watch: no wait for its 1 s timer after Python returned.
        expect(received.find((m) => m.result)!.at - sentAt).toBeLessThan(3000);
      } finally {
        stream.cancel();
      }
    }, 30_000);
  });

  it('should state that worker numbers are unknown when workers send no events', async () => {
    const redis = await startRedisServer();
    const queue = uniqueQueueName('celery_quiet');
    const { env, exporter, scaler } = await startSidecar(redis, queue);
    const worker = new CeleryWorker(redis.port, queue, 'quiet', { events: false });
    try {
      await celerySend(
        redis.port,
        queue,
        Array.from({ length: 4 }, () => ({ fn: 'work' as const, args: [0.3] })),
        false,
      );
      const metrics = `${exporter.url}/metrics`;
      const before = await scrapeUntil(metrics, (s) => sumOf(s, 'qscale_queue_length') === 4);
      // No task-sent event: the sidecar saw the oldest message only now.
      expect(sumOf(before, 'qscale_queue_oldest_job_age_seconds')).toBeLessThan(5);
      await worker.ready;
      await scrapeUntil(metrics, (s) => sumOf(s, 'qscale_queue_length') === 0, 20_000);
      const status = (await (await fetch(`${exporter.url}/api/status`)).json()) as {
        queues: {
          telemetry: { workersKnown: boolean; workersUnknown: string };
          workers: { live: number | null };
        }[];
      };
      expect(status.queues[0]!.telemetry.workersKnown).toBe(false);
      expect(status.queues[0]!.telemetry.workersUnknown).toContain('no Celery task events');
      expect(status.queues[0]!.workers.live).toBeNull();
      const metadata = { queue: `celery:${queue}`, mode: 'backlog' };
      expect((await scaler.getMetrics(metadata)).metricValues[0]!.metricValue).toBe(0);

      const cli = await runCli(['status', '--json'], { ...env, LOG_LEVEL: 'silent' });
      expect(cli.code, cli.stderr).toBe(0);
      const report = JSON.parse(cli.stdout) as { queues: { kind: string; backlog: number }[] };
      expect(report.queues).toEqual([expect.objectContaining({ kind: 'celery', backlog: 0 })]);
      const doctor = await runDoctor(loadConfig(env));
      const live = doctor.checks.find((c) => c.name === 'live workers')!;
      expect(live).toMatchObject({ status: 'WARN' });
      expect(live.fix).toContain('worker_send_task_events');
    } finally {
      await worker.kill();
      scaler.close();
      await exporter.close();
      await redis.stop();
      if (env.UPLOAD_DIR) await rm(env.UPLOAD_DIR, { recursive: true, force: true });
    }
  }, 40_000);
});
