import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runDoctor } from '../src/doctor/doctor.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { loadAlertRules } from '../harness/monitoring-files.js';
import {
  find,
  parsePromText,
  scrapeMetrics,
  sumOf,
  type PromSample,
} from '../harness/prom-text.js';
import { startPrometheus, type TestPrometheus } from '../harness/prometheus-server.js';
import { commandsDuring, READ_ONLY_COMMANDS } from '../harness/redis-monitor.js';
import { startRedisServer, type TestRedisServer } from '../harness/redis-server.js';
import { ScalerClient } from '../harness/scaler-client.js';
import { scrapeUntil } from '../harness/scrape-until.js';
import { testEnv } from '../harness/stack.js';
import { uniqueQueueName } from '../harness/test-queue.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Another team's app: a plain BullMQ producer and worker written here, with no qscale import, on a
 * queue under its own prefix. The sidecar watches it with `QUEUES=bullmq:myapp/<name>` and must
 * derive from BullMQ's own records what the test knows the app did.
 */
describe('the sidecar for a plain BullMQ app without qscale telemetry', () => {
  const prefix = 'myapp';
  const name = uniqueQueueName('emails');
  const address = `bullmq:${prefix}/${name}`;
  /** Every job takes this long, so the processing time is known. */
  const JOB_MS = 300;
  const CONCURRENCY = 3;
  let redis: TestRedisServer;
  let connection: Redis;
  let queue: Queue;
  let worker: Worker;
  let exporter: RunningExporter;
  let scaler: ScalerClient;
  let prometheus: TestPrometheus;
  let dir: string;
  let env: Env;
  /** Jobs with `hold: true` wait for this gate. */
  let release: () => void = () => undefined;
  let gate = Promise.resolve();

  const scrape = () => scrapeMetrics(`${exporter.url}/metrics`);
  const value = (samples: PromSample[], metric: string, labels: Record<string, string> = {}) =>
    sumOf(samples, metric, { queue: name, ...labels });

  const until = (check: (samples: PromSample[]) => boolean) =>
    scrapeUntil(`${exporter.url}/metrics`, check, 20_000);

  beforeAll(async () => {
    redis = await startRedisServer();
    env = await testEnv(redis, {
      QUEUE_NAME: name,
      QUEUES: address,
      HOST: '127.0.0.1',
      SAMPLE_TTL_MS: '0',
      METRICS_PORT: '0',
      KEDA_PORT: '0',
    });
    const config = loadConfig(env);
    exporter = await runExporter(config, createLogger(config, 'test'));
    scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
    connection = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: null });
    queue = new Queue(name, { connection, prefix });
    worker = new Worker(
      name,
      async (job) => {
        const data = job.data as { fail?: boolean; hold?: boolean };
        if (data.hold) await gate;
        await sleep(JOB_MS);
        if (data.fail) throw new Error('mailbox full');
      },
      { connection, prefix, concurrency: CONCURRENCY, name: 'mailer-1' },
    );
    // The sidecar's first read starts its cursor: nothing before it is counted.
    await scrape();
    dir = await mkdtemp(join(tmpdir(), 'qscale-plain-bullmq-'));
    prometheus = await startPrometheus([`127.0.0.1:${exporter.port}`], dir);
  }, 60_000);

  afterAll(async () => {
    release();
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    connection?.disconnect();
    scaler?.close();
    await prometheus?.stop();
    await exporter?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (env?.UPLOAD_DIR) await rm(env.UPLOAD_DIR, { recursive: true, force: true });
  });

  it('should derive jobs processed, processing time and live workers from what BullMQ records', async () => {
    await queue.addBulk([
      ...Array.from({ length: 11 }, (_, i) => ({ name: 'send', data: { i } })),
      // Removed when finished: their times come from the active and finished events alone.
      { name: 'send', data: { i: 11 }, opts: { removeOnComplete: true } },
      { name: 'send', data: { fail: true }, opts: { attempts: 1, removeOnFail: true } },
    ]);
    const samples = await until(
      (s) =>
        value(s, 'qscale_jobs_processed_total') === 13 && value(s, 'qscale_queue_length') === 0,
    );
    expect(
      find(samples, 'qscale_queue_telemetry_info', { queue: name }).map((s) => s.labels),
    ).toEqual([{ queue: name, prefix, kind: 'bullmq', source: 'derived', workers_known: 'true' }]);
    expect(value(samples, 'qscale_jobs_processed_total', { status: 'completed' })).toBe(12);
    expect(value(samples, 'qscale_jobs_processed_total', { status: 'failed' })).toBe(1);
    expect(value(samples, 'qscale_job_processing_seconds_count')).toBe(13);
    const mean = value(samples, 'qscale_job_processing_seconds_sum') / 13;
    expect(mean).toBeGreaterThanOrEqual(JOB_MS / 1000);
    expect(mean).toBeLessThan(JOB_MS / 1000 + 0.5);
    // The wait of the 11 jobs whose record is kept (the removed ones' records are gone).
    expect(value(samples, 'qscale_job_wait_seconds_count')).toBe(11);
    expect(value(samples, 'qscale_job_wait_seconds_sum')).toBeLessThan(11 * 5);
    expect(value(samples, 'qscale_workers')).toBe(1);
    expect(find(samples, 'qscale_workers', { queue: name })[0]!.labels).toMatchObject({
      prefix,
      kind: 'bullmq',
    });
  });

  it('should answer the workers mode from the derived processing time and the estimated concurrency', async () => {
    gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // 3 held jobs fill the worker's 3 slots; 22 wait behind them.
    await queue.addBulk(
      Array.from({ length: 25 }, (_, i) => ({ name: 'send', data: { i, hold: true } })),
    );
    const samples = await until(
      (s) =>
        value(s, 'qscale_queue_length') === 22 &&
        value(s, 'qscale_queue_jobs', { state: 'active' }) === 3,
    );
    const mean =
      value(samples, 'qscale_job_processing_seconds_sum') /
      value(samples, 'qscale_job_processing_seconds_count');
    const metadata = { queue: address, mode: 'workers', drainSeconds: '1' };
    const metrics = await scaler.getMetrics(metadata);
    const desired = Number(metrics.metricValues[0]!.metricValue);
    // Draining 22 jobs of `mean` seconds within 1 s on workers of 3 slots needs at least this many
    // workers (the arrival rate only adds to it); without the derived numbers it answered 1.
    const fromBacklog = Math.ceil((22 * mean) / 1 / CONCURRENCY);
    expect(fromBacklog).toBeGreaterThanOrEqual(3);
    expect(desired).toBeGreaterThanOrEqual(fromBacklog);
    expect(desired).toBeLessThan(fromBacklog * 3);
    expect((await scaler.isActive(metadata)).result).toBe(true);
    expect(value(samples, 'qscale_queue_utilization_ratio')).toBe(1);

    // The critical alert must not fire on a healthy app that has a backlog and a working worker.
    await prometheus.waitForSeries(`qscale_queue_length{queue="${name}"} == 22`, 1);
    const rule = loadAlertRules().find((r) => r.alert === 'QscaleBacklogWithoutWorkers')!;
    const response = await prometheus.query(rule.expr);
    expect(response.status).toBe('success');
    expect(response.data?.result).toEqual([]);
    // Its operands do return data: the alert is quiet because a worker is counted.
    const workers = await prometheus.query(`max by (queue) (qscale_workers{queue="${name}"})`);
    expect((workers.data?.result as { value: [number, string] }[])[0]!.value[1]).toBe('1');

    release();
    await until((s) => value(s, 'qscale_jobs_processed_total') === 13 + 25);
  });

  it('should fire no alert once the app is idle again, and doctor exits 0', async () => {
    await prometheus.waitForSeries(
      `qscale_jobs_processed_total{queue="${name}",status="completed"} == 37`,
      1,
    );
    await prometheus.waitForSeries(`qscale_queue_utilization_ratio{queue="${name}"} == 0`, 1);
    const firing: string[] = [];
    for (const rule of loadAlertRules()) {
      const response = await prometheus.query(rule.expr);
      expect(response.status, `${rule.alert}: ${response.error}`).toBe('success');
      if ((response.data?.result as unknown[]).length > 0) firing.push(rule.alert);
    }
    expect(firing).toEqual([]);

    const report = await runDoctor(loadConfig(env));
    expect(report.checks.filter((c) => c.status !== 'OK')).toEqual([]);
    expect(report.exitCode).toBe(0);
    expect(report.checks.find((c) => c.name === 'live workers')?.found).toContain('mailer-1');
  });

  it('should catch up with an events stream far ahead, and count a trimmed one as missed', async () => {
    const run = async (queueName: string, jobs: number, maxLen?: number) => {
      const q = new Queue(queueName, {
        connection,
        prefix,
        ...(maxLen !== undefined && { streams: { events: { maxLen } } }),
      });
      const sampler = new QueueSampler(connection, new QueueKeys(prefix, queueName), {
        ttlMs: 0,
      });
      await sampler.sample(); // the cursor starts here
      const w = new Worker(queueName, async () => undefined, {
        connection,
        prefix,
        concurrency: 50,
      });
      let done = 0;
      w.on('completed', () => done++);
      await q.addBulk(Array.from({ length: jobs }, (_, i) => ({ name: 'n', data: { i } })));
      await vi.waitFor(
        () => {
          if (done < jobs) throw new Error(`${done} of ${jobs} jobs completed within 25 s`);
        },
        { timeout: 25_000, interval: 50 },
      );
      const snapshot = await sampler.sampleQueue();
      await w.close();
      await q.obliterate({ force: true });
      await q.close();
      return snapshot;
    };
    // 1 500 jobs between two reads: ~6 000 events, beyond one script's 500.
    const far = await run(uniqueQueueName('far'), 1500);
    expect(far.processing.completed.count).toBe(1500);
    expect(far.derived?.eventsMissed).toBe(0);
    // A stream kept to ~100 events: most of 300 jobs' events are gone before the read.
    const trimmed = await run(uniqueQueueName('trimmed'), 300, 100);
    const counted = trimmed.processing.completed.count;
    expect(counted).toBeLessThan(300);
    // About 4 events per job (added, waiting, active, completed) were lost with each uncounted job.
    expect(trimmed.derived!.eventsMissed).toBeGreaterThanOrEqual(3 * (300 - counted));
  });

  it('should keep reading a derived queue every 2 s by itself, scraped or not', async () => {
    const quiet = uniqueQueueName('unscraped');
    const config = loadConfig(
      await testEnv(redis, { ...env, QUEUE_NAME: quiet, QUEUES: `bullmq:${prefix}/${quiet}` }),
    );
    const other = await runExporter(config, createLogger(config, 'test'));
    try {
      await fetch(`${other.url}/metrics`); // the first read: the queue's numbers are derived
      const seen = await commandsDuring(redis.client(), () => sleep(4500));
      const reads = seen.filter(
        ([command, , key]) => command === 'xinfo' && key === `${prefix}:${quiet}:events`,
      );
      expect(reads.length).toBeGreaterThanOrEqual(2);
      expect(reads.length).toBeLessThanOrEqual(3);
    } finally {
      await other.close();
    }
  });

  it('should say live workers are unknown, not 0, where Redis refuses CLIENT LIST', async () => {
    // A managed Redis may deny CLIENT LIST: a user with every command but that one.
    const admin = redis.client();
    await admin.call(
      'ACL',
      'SETUSER',
      'sidecar',
      'on',
      '>sidecar-password',
      '~*',
      '&*',
      '+@all',
      '-client|list',
    );
    admin.disconnect();
    const restricted = await testEnv(redis, {
      ...env,
      REDIS_URL: `redis://sidecar:sidecar-password@127.0.0.1:${redis.port}`,
    });
    const config = loadConfig(restricted);
    const other = await runExporter(config, createLogger(config, 'test'));
    try {
      await queue.add('send', { i: 'acl' });
      const samples = parsePromText(await (await fetch(`${other.url}/metrics`)).text());
      expect(
        find(samples, 'qscale_queue_telemetry_info', { queue: name })[0]!.labels,
      ).toMatchObject({
        source: 'derived',
        workers_known: 'false',
      });
      // No qscale_workers series: an alert on `== 0` cannot fire on a number nobody knows.
      expect(find(samples, 'qscale_workers', { queue: name })).toEqual([]);
      expect(find(samples, 'qscale_queue_utilization_ratio', { queue: name })).toEqual([]);
      const status = (await (await fetch(`${other.url}/api/status`)).json()) as {
        queues: { workers: { live: number | null }; telemetry: { workersKnown: boolean } }[];
      };
      expect(status.queues[0]).toMatchObject({
        workers: { live: null },
        telemetry: { workersKnown: false },
      });
      const report = await runDoctor(config);
      const live = report.checks.find((c) => c.name === 'live workers')!;
      expect(live.status).toBe('WARN');
      expect(live.found).toContain('refuses CLIENT LIST');
      expect(report.checks.find((c) => c.name === 'active jobs without a worker')?.status).toBe(
        'OK',
      );
    } finally {
      await other.close();
    }
  });

  it('should read the app’s Redis with read-only commands only, writing nothing but its own history', async () => {
    // The app's worker stops, so that every command MONITOR shows is the sidecar's (the app's
    // scripts' inner commands carry no client address).
    await worker.close();
    const stats = redis.client();
    const clientListCalls = async () =>
      Number(/cmdstat_client\|list:calls=(\d+)/.exec(await stats.info('commandstats'))?.[1] ?? 0);
    const before = await clientListCalls();
    const seen = await commandsDuring(redis.client(), async () => {
      // Past the worker list's 5 s reuse: CLIENT LIST is asked again.
      await sleep(5100);
      await scrape();
    });
    // Its only writes: the queue history it keeps (HISTORY=on), under its own keys, bounded.
    const writes = seen.filter(([command]) => !READ_ONLY_COMMANDS.has(command!));
    const historyKey = new RegExp(`^${prefix}:[^:]+:qscale:history:(5s|1m)(:step)?$`);
    expect(writes.filter(([, key]) => !historyKey.test(key ?? ''))).toEqual([]);
    // Those writes are the history's lease, append and expiry (whether a 5 s tick falls in this
    // window depends on the timer under load; queue-history.test.ts checks that points are written).
    for (const [command] of writes) expect(['set', 'xadd', 'pexpire']).toContain(command);
    // MONITOR does not show administrative commands: CLIENT LIST is counted in commandstats (once
    // per 5 s at most, for the scrape and the sidecar's own reads every 2 s).
    const calls = (await clientListCalls()) - before;
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(2);
    stats.disconnect();
  });
});
