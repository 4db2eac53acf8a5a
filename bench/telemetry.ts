/**
 * `npm run bench:telemetry`: what worker telemetry costs in throughput. No-op jobs per second
 * through ONE BullMQ worker (concurrency 10, processor `async () => undefined`) with telemetry off
 * (the bare processor) and on (the processor wrapped with `WorkerTelemetry.instrument`, telemetry
 * started with its heartbeats, sharing the worker's connection as the real worker does), side by
 * side in one run against a redis-server of its own on a free loopback port.
 *
 * Each round uses a fresh queue: N jobs (`removeOnComplete: true`) are added with `addBulk` before
 * the worker exists, then the clock runs from `worker.run()` until the worker has emitted N
 * 'completed' events; the worker is then closed and the queue obliterated. One unreported warm-up
 * round of each mode comes first, then the modes alternate (off, on, off, on, …) for 5 rounds
 * each, so machine noise falls on both alike. Reported: per-round rates, the median rate of each
 * mode, and the ratio of the medians. After each telemetry-on round the benchmark checks that the
 * processing histogram counted every job, so "on" really did the work.
 *
 * Options (env): BENCH_JOBS (jobs per round, default 20 000).
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { DEFAULT_BUCKETS } from '../src/config/config.js';
import { createLogger } from '../src/config/logger.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import type { TestRedisServer } from '../harness/redis-server.js';
import { median, thousands, withRedisServer } from './bench-utils.js';

const rawJobs = process.env.BENCH_JOBS;
const JOBS = rawJobs === undefined || rawJobs === '' ? 20_000 : Number(rawJobs);
if (!Number.isInteger(JOBS) || JOBS < 1) {
  throw new RangeError(`BENCH_JOBS must be a whole number ≥ 1, got ${JSON.stringify(rawJobs)}`);
}
const ROUNDS = 5;
const CONCURRENCY = 10;
const ADD_BATCH = 5000;
const PREFIX = 'bull';
/** The default HEARTBEAT_SECONDS of the config. */
const HEARTBEAT_SECONDS = 5;
/** A round slower than this (≈ 200 jobs/s) is a failure, so the benchmark always stops. */
const ROUND_TIMEOUT_MS = Math.max(60_000, JOBS * 5);

const logger = createLogger({ logLevel: 'silent' }, 'bench');

type Mode = 'off' | 'on';

async function round(server: TestRedisServer, mode: Mode, jobs: number): Promise<number> {
  const keys = new QueueKeys(PREFIX, `bench_telemetry_${mode}_${randomUUID().slice(0, 8)}`);
  const admin = server.client();
  const queue = new Queue(keys.queue, { connection: admin, prefix: PREFIX });
  const connection = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: null });
  let worker: Worker | undefined;
  let telemetry: WorkerTelemetry | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    for (let added = 0; added < jobs; added += ADD_BATCH) {
      const n = Math.min(ADD_BATCH, jobs - added);
      await queue.addBulk(
        Array.from({ length: n }, (_, i) => ({
          name: 'noop',
          data: { i: added + i },
          opts: { removeOnComplete: true },
        })),
      );
    }
    const processor = async (_job: Job) => undefined;
    if (mode === 'on') {
      telemetry = new WorkerTelemetry(connection, keys, logger, {
        workerId: `bench-${process.pid}`,
        concurrency: CONCURRENCY,
        buckets: DEFAULT_BUCKETS,
        heartbeatSeconds: HEARTBEAT_SECONDS,
      });
    }
    const w = new Worker(keys.queue, telemetry ? telemetry.instrument(processor) : processor, {
      connection,
      prefix: PREFIX,
      concurrency: CONCURRENCY,
      autorun: false,
    });
    worker = w;
    let fail: (error: unknown) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      fail = reject;
      let completed = 0;
      w.on('completed', () => {
        if (++completed === jobs) resolve();
      });
      w.on('failed', (_job, error) => reject(error));
      w.on('error', reject);
      timer = setTimeout(
        () => reject(new Error(`${completed} of ${jobs} jobs done after ${ROUND_TIMEOUT_MS} ms`)),
        ROUND_TIMEOUT_MS,
      );
    });
    await w.waitUntilReady();
    await telemetry?.start();
    const started = performance.now();
    const running = w.run().catch(fail);
    await done;
    const seconds = (performance.now() - started) / 1000;
    await w.close();
    await running;
    if (telemetry) {
      await telemetry.close();
      const counted = Number(await admin.hget(keys.histogram('processing:completed'), 'count'));
      if (counted !== jobs) throw new Error(`telemetry counted ${counted} of ${jobs} jobs`);
    }
    return jobs / seconds;
  } finally {
    clearTimeout(timer);
    await worker?.close();
    await telemetry?.close();
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
    admin.disconnect();
  }
}

function rate(value: number): string {
  return thousands(Math.round(value));
}

async function run(server: TestRedisServer): Promise<void> {
  console.log(
    `${thousands(JOBS)} no-op jobs per round through one BullMQ worker (concurrency ${CONCURRENCY}), redis-server on 127.0.0.1:${server.port} (the benchmark's own)`,
  );
  const warmJobs = Math.min(JOBS, 5000);
  for (const mode of ['off', 'on'] as const) {
    const r = await round(server, mode, warmJobs);
    console.log(
      `warm-up, telemetry ${mode}: ${rate(r)} jobs/s (${thousands(warmJobs)} jobs, not counted)`,
    );
  }
  const rates: Record<Mode, number[]> = { off: [], on: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of ['off', 'on'] as const) {
      const r = await round(server, mode, JOBS);
      rates[mode].push(r);
      console.log(`round ${i + 1}, telemetry ${mode}: ${rate(r)} jobs/s`);
    }
  }
  console.log(
    '\n| telemetry | ' + rates.off.map((_, i) => `round ${i + 1}`).join(' | ') + ' | median |',
  );
  console.log('|---|' + rates.off.map(() => '---:|').join('') + '---:|');
  for (const mode of ['off', 'on'] as const) {
    console.log(
      `| ${mode} | ${rates[mode].map(rate).join(' | ')} | ${rate(median(rates[mode]))} |`,
    );
  }
  const ratio = median(rates.on) / median(rates.off);
  console.log(`\ntelemetry throughput ratio (on/off): ${ratio.toFixed(3)} (target ≥ 0.95)`);
}

await withRedisServer(run);
