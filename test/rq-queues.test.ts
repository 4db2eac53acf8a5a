import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runDoctor } from '../src/doctor/doctor.js';
import { runCli } from '../harness/cli-process.js';
import { find, scrapeMetrics, sumOf, type PromSample } from '../harness/prom-text.js';
import { commandsDuring, READ_ONLY_COMMANDS } from '../harness/redis-monitor.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { rqEnqueue, rqLen, RqWorker } from '../harness/rq.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { scrapeUntil } from '../harness/scrape-until.js';
import { testEnv } from '../harness/stack.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Python RQ app, as the reference deployment runs: jobs enqueued with RQ's own Python API and
 * processed by a real `rq worker` process (Debian's python3-rq). The sidecar reads RQ's keys only.
 */
describe('the sidecar for Python RQ queues', () => {
  const name = uniqueQueueName('file_processing');
  const JOB_SECONDS = 0.4;
  let redis: TestRedisServer;
  let exporter: RunningExporter;
  let scaler: ScalerClient;
  let env: Env;
  const workers: RqWorker[] = [];

  const scrape = () => scrapeMetrics(`${exporter.url}/metrics`);
  const value = (samples: PromSample[], metric: string, labels: Record<string, string> = {}) =>
    sumOf(samples, metric, { queue: name, ...labels });

  const until = (check: (samples: PromSample[]) => boolean) =>
    scrapeUntil(`${exporter.url}/metrics`, check, 20_000);

  beforeAll(async () => {
    redis = await startRedisServer();
    env = await testEnv(redis, {
      QUEUE_NAME: 'file_processing',
      QUEUES: `rq:${name}`,
      HOST: '127.0.0.1',
      SAMPLE_TTL_MS: '0',
      METRICS_PORT: '0',
      KEDA_PORT: '0',
      // Scrapes' own commands are measured with MONITOR: no history writer ticking into them.
      HISTORY: 'off',
    });
    const config = loadConfig(env);
    exporter = await runExporter(config, createLogger(config, 'test'));
    scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
    // The sidecar's first read: what finished before it is not counted as processed.
    await scrape();
  }, 30_000);

  afterAll(async () => {
    for (const worker of workers) await worker.stop();
    scaler?.close();
    await exporter?.close();
    await redis?.stop();
    if (env?.UPLOAD_DIR) await rm(env.UPLOAD_DIR, { recursive: true, force: true });
  });

  it('should report the backlog as len(Queue) before, during and after a real rq worker drains it', async () => {
    await rqEnqueue(
      redis.port,
      name,
      Array.from({ length: 6 }, () => ({ fn: 'work' as const, args: [JOB_SECONDS] })),
    );
    const before = await scrape();
    expect(await rqLen(redis.port, name)).toBe(6);
    expect(value(before, 'qscale_queue_length')).toBe(6);
    expect(value(before, 'qscale_queue_oldest_job_age_seconds')).toBeGreaterThan(0);
    expect(value(before, 'qscale_workers')).toBe(0);
    expect(find(before, 'qscale_queue_length', { queue: name })[0]!.labels).toEqual({
      queue: name,
      prefix: 'rq',
      kind: 'rq',
    });
    const metadata = { queue: `rq:${name}`, mode: 'backlog', includeActive: 'false' };
    expect((await scaler.getMetrics(metadata)).metricValues[0]!.metricValue).toBe(6);
    expect((await scaler.isActive(metadata)).result).toBe(true);

    const worker = new RqWorker(redis.port, [name], 'rq-w1');
    workers.push(worker);
    // During: the metric lies between the one-liner's answers just before and just after it.
    const during = await until(
      (s) => value(s, 'qscale_workers') === 1 && value(s, 'qscale_worker_busy_slots') === 1,
    );
    expect(value(during, 'qscale_workers'), worker.output).toBe(1);
    for (let i = 0; i < 3; i++) {
      const high = await rqLen(redis.port, name);
      const metric = value(await scrape(), 'qscale_queue_length');
      const low = await rqLen(redis.port, name);
      expect(metric).toBeLessThanOrEqual(high);
      expect(metric).toBeGreaterThanOrEqual(low);
      await sleep(300);
    }
    expect(value(during, 'qscale_worker_concurrency', { worker: 'rq-w1' })).toBe(1);

    const after = await until((s) => value(s, 'qscale_jobs_processed_total') === 6);
    expect(await rqLen(redis.port, name)).toBe(0);
    expect(value(after, 'qscale_queue_length')).toBe(0);
    expect(value(after, 'qscale_jobs_processed_total', { status: 'completed' })).toBe(6);
    expect(value(after, 'qscale_job_processing_seconds_count')).toBe(6);
    const mean = value(after, 'qscale_job_processing_seconds_sum') / 6;
    expect(mean).toBeGreaterThanOrEqual(JOB_SECONDS);
    expect(mean).toBeLessThan(JOB_SECONDS + 0.5);
    expect(value(after, 'qscale_job_wait_seconds_count')).toBe(6);
    // The worker was busy about 6 × 0.4 s of its life so far: its utilization says so.
    expect(
      value(after, 'qscale_worker_busy_seconds_total', { worker: 'rq-w1' }),
    ).toBeGreaterThanOrEqual(6 * JOB_SECONDS);
    expect(value(after, 'qscale_queue_utilization_ratio')).toBeGreaterThan(0);
    expect(value(after, 'qscale_worker_jobs_total', { worker: 'rq-w1', status: 'completed' })).toBe(
      6,
    );
    // RQ keeps no counter: the sidecar counted the 6 arrivals from the queue's changes.
    expect(value(after, 'qscale_jobs_enqueued_total')).toBe(6);
    expect((await scaler.isActive(metadata)).result).toBe(false);

    const report = await runDoctor(loadConfig(env));
    expect(report.checks.filter((c) => c.status !== 'OK')).toEqual([]);
    expect(report.checks.find((c) => c.name === 'live workers')?.found).toContain('rq-w1');
    expect(report.exitCode).toBe(0);
  });

  it('should count failed jobs and show their traceback on the status page', async () => {
    await rqEnqueue(redis.port, name, [
      { fn: 'fail', args: ['bad input 1'] },
      { fn: 'work', args: [0.1] },
      { fn: 'fail', args: ['bad input 2'] },
    ]);
    const samples = await until((s) => value(s, 'qscale_jobs_processed_total') === 9);
    expect(value(samples, 'qscale_jobs_processed_total', { status: 'failed' })).toBe(2);
    expect(value(samples, 'qscale_queue_jobs', { state: 'failed' })).toBe(2);
    expect(value(samples, 'qscale_queue_jobs', { state: 'completed' })).toBe(7);
    expect(value(samples, 'qscale_jobs_enqueued_total')).toBe(9);

    const status = (await (await fetch(`${exporter.url}/api/status`)).json()) as {
      queues: {
        kind: string;
        telemetry: { source: string };
        workers: { live: number };
        recentFailures: { error: string; name: string }[];
      }[];
    };
    const [queue] = status.queues;
    expect(queue).toMatchObject({
      kind: 'rq',
      telemetry: { source: 'derived' },
      workers: { live: 1 },
    });
    expect(queue!.recentFailures.map((f) => f.error).sort()).toEqual([
      'ValueError: bad input 1',
      'ValueError: bad input 2',
    ]);
    expect(queue!.recentFailures[0]!.name).toMatch(/^qscale_rq_jobs\.fail\('bad input \d'\)$/);
  });

  it('should see a stopped worker: status, doctor and KEDA while jobs wait', async () => {
    await workers[0]!.stop();
    await rqEnqueue(redis.port, name, [
      { fn: 'work', args: [0.1] },
      { fn: 'work', args: [0.1] },
    ]);
    const samples = await until((s) => value(s, 'qscale_workers') === 0);
    expect(value(samples, 'qscale_workers')).toBe(0);
    expect(value(samples, 'qscale_queue_length')).toBe(await rqLen(redis.port, name));

    const metadata = { queue: `rq:${name}`, mode: 'workers' };
    expect((await scaler.isActive(metadata)).result).toBe(true);
    expect((await scaler.getMetrics(metadata)).metricValues[0]!.metricValue).toBeGreaterThanOrEqual(
      1,
    );

    const cli = await runCli(['status', '--json'], { ...env, LOG_LEVEL: 'silent' });
    expect(cli.code, cli.stderr).toBe(0);
    const report = JSON.parse(cli.stdout) as {
      queues: { name: string; kind: string; backlog: number; workers: { count: number } }[];
    };
    expect(report.queues).toEqual([
      expect.objectContaining({ name, kind: 'rq', backlog: 2, workers: { count: 0, names: [] } }),
    ]);

    const doctor = await runDoctor(loadConfig(env));
    const byName = (n: string) => doctor.checks.find((c) => c.name === n)!;
    expect(byName('live workers')).toMatchObject({ status: 'FAIL' });
    expect(byName('live workers').found).toContain('2 jobs are waiting');
    expect(byName('live workers').fix).toContain(`rq worker ${name}`);
    expect(byName('failures (last hour)')).toMatchObject({ status: 'WARN' });
    expect(byName('failures (last hour)').found).toContain('"ValueError: bad input');
    expect(doctor.exitCode).toBe(2);
  });

  it('should read RQ’s keys with read-only commands, as many for 3 waiting jobs as for 3000', async () => {
    const worker = new RqWorker(redis.port, [name], 'rq-w2');
    workers.push(worker);
    await until((s) => value(s, 'qscale_workers') === 1);
    await worker.stop();
    // Everything the worker finished is read now: the two measured scrapes find nothing new.
    await until(
      (s) =>
        value(s, 'qscale_workers') === 0 &&
        value(s, 'qscale_queue_jobs', { state: 'active' }) === 0,
    );
    await scrape();
    const commands = async () =>
      (await commandsDuring(redis.client(), () => scrape())).map(([command]) => command!);
    await rqEnqueue(
      redis.port,
      name,
      Array.from({ length: 3 }, () => ({ fn: 'work', args: [0] })),
    );
    const small = await commands();
    await rqEnqueue(
      redis.port,
      name,
      Array.from({ length: 3000 }, () => ({ fn: 'work' as const, args: [0] })),
    );
    const large = await commands();
    expect(small.filter((c) => !READ_ONLY_COMMANDS.has(c))).toEqual([]);
    expect(large.filter((c) => !READ_ONLY_COMMANDS.has(c))).toEqual([]);
    // One sample: from the sampling script to the memory read. The sidecar also reads by itself
    // for a while after a KEDA call (earlier tests made some), which may fall in the window: one
    // sample is compared with one sample.
    const oneSample = (commands: string[]) => {
      const start = commands.indexOf('evalsha');
      return commands.slice(start, commands.indexOf('info', start) + 1);
    };
    expect(oneSample(small).length).toBeGreaterThan(1);
    expect(oneSample(large)).toEqual(oneSample(small));
    expect(oneSample(small).filter((c) => c === 'evalsha' || c === 'eval')).toHaveLength(1);
    expect(value(await scrape(), 'qscale_queue_length')).toBe(await rqLen(redis.port, name));
  });

  it('should answer NOT_FOUND for an RQ queue it does not watch, and for the same name as BullMQ', async () => {
    await expect(scaler.getMetrics({ queue: 'rq:other' })).rejects.toMatchObject({ code: 5 });
    await expect(scaler.getMetrics({ queue: `bullmq:rq/${name}` })).rejects.toMatchObject({
      code: 5,
      details: expect.stringContaining(`serves rq:${name}`),
    });
  });
});
