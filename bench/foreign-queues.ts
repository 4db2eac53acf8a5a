/**
 * `npm run bench:foreign`: what it costs the sidecar to watch queues it did not create, and how
 * close the derived numbers come to the exact ones, side by side in one run on one redis-server
 * of its own (free loopback port):
 *
 * - `instrumented`: a BullMQ queue whose worker has `instrumentWorker` (exact telemetry);
 * - `derived`: the same load on a second BullMQ queue whose worker is plain (the sidecar reads the
 *   events stream each sample and CLIENT LIST every 5 s);
 * - `rq`: a Python RQ queue drained by a real `rq worker` (skipped when RQ is not installed).
 *
 * Both BullMQ queues get the same producer (RATE jobs/s each, added in bursts every 100 ms) and a
 * worker of concurrency 10 whose jobs sleep JOB_MS. Each sampler is read (`sample()`, no cache)
 * every INTERVAL ms, in a rotating order, for DURATION s. Latency = wall time of one read as the
 * caller sees it. At the end the derived counters are compared with what the workers counted.
 *
 * Options (env): BENCH_RATE (jobs/s per BullMQ queue, default 200), BENCH_SECONDS (default 30),
 * BENCH_INTERVAL_MS (default 1000; the status page polls every 2 s, Prometheus every 15 s).
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../src/config/logger.js';
import { instrumentWorker } from '../src/index.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import type { QueueSnapshot } from '../src/queue/queue-snapshot.js';
import { rqEnqueue, RqWorker, rqPython } from '../harness/rq.js';
import { envPositiveInt, median, percentile, sleep, withRedisServer } from './bench-utils.js';

const RATE = envPositiveInt('BENCH_RATE', 200);
const SECONDS = envPositiveInt('BENCH_SECONDS', 30);
const INTERVAL_MS = envPositiveInt('BENCH_INTERVAL_MS', 1000);
const JOB_MS = 20;
const CONCURRENCY = 10;

type Approach = 'instrumented' | 'derived' | 'rq';

function hasRq(): boolean {
  try {
    rqPython();
    return true;
  } catch {
    return false;
  }
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(3));

await withRedisServer(async (server) => {
  const connection = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: null });
  const reader = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: null });
  const logger = createLogger({ logLevel: 'silent' }, 'bench');
  const names = { instrumented: 'bench_instrumented', derived: 'bench_plain' };
  const queues = Object.fromEntries(
    Object.entries(names).map(([k, name]) => [k, new Queue(name, { connection })]),
  ) as Record<'instrumented' | 'derived', Queue>;
  const finished = { instrumented: 0, derived: 0 };
  const workers: Worker[] = [];
  for (const kind of ['instrumented', 'derived'] as const) {
    const worker = new Worker(names[kind], () => sleep(JOB_MS), {
      connection,
      concurrency: CONCURRENCY,
      name: `bench-${kind}`,
      autorun: false,
    });
    worker.on('completed', () => finished[kind]++);
    if (kind === 'instrumented') await instrumentWorker(worker, { logger }).ready;
    void worker.run();
    workers.push(worker);
  }
  const rq = hasRq();
  const rqName = 'bench_rq';
  let rqWorker: RqWorker | undefined;
  const samplers: Partial<Record<Approach, QueueSampler>> = {
    instrumented: new QueueSampler(reader, new QueueKeys('bull', names.instrumented), { ttlMs: 0 }),
    derived: new QueueSampler(reader, new QueueKeys('bull', names.derived), { ttlMs: 0 }),
  };
  if (rq) {
    samplers.rq = new QueueSampler(reader, new QueueKeys('rq', rqName, 'rq'), { ttlMs: 0 });
  }
  // First reads: the derived cursors start here.
  for (const sampler of Object.values(samplers)) await sampler.sample();
  if (rq) {
    await rqEnqueue(
      server.port,
      rqName,
      Array.from({ length: 20 * SECONDS }, () => ({ fn: 'work' as const, args: [0.01] })),
    );
    rqWorker = new RqWorker(server.port, [rqName], 'bench-rq');
  }

  let producing = true;
  const producer = (async () => {
    const perTick = Math.max(1, Math.round(RATE / 10));
    while (producing) {
      await Promise.all(
        Object.values(queues).map((q) =>
          q.addBulk(Array.from({ length: perTick }, () => ({ name: 'j', data: {} }))),
        ),
      );
      await sleep(100);
    }
  })();

  const latencies: Record<Approach, number[]> = { instrumented: [], derived: [], rq: [] };
  const last: Partial<Record<Approach, QueueSnapshot>> = {};
  const approaches = Object.keys(samplers) as Approach[];
  const rounds = Math.floor((SECONDS * 1000) / INTERVAL_MS);
  console.log(
    `${rounds} reads per approach, every ${INTERVAL_MS} ms; BullMQ load ${RATE} jobs/s per queue, ${JOB_MS} ms jobs, concurrency ${CONCURRENCY}${rq ? '; RQ: 1 rq worker' : '; RQ not installed: skipped'}`,
  );
  for (let round = 0; round < rounds; round++) {
    const started = Date.now();
    for (let i = 0; i < approaches.length; i++) {
      const approach = approaches[(round + i) % approaches.length]!;
      const t0 = performance.now();
      const sample = await samplers[approach]!.sample();
      latencies[approach].push(performance.now() - t0);
      last[approach] = sample.queues[0]!;
    }
    await sleep(Math.max(0, INTERVAL_MS - (Date.now() - started)));
  }
  producing = false;
  await producer;
  // Let the workers finish what is queued, then read once more.
  for (let i = 0; i < 100; i++) {
    const counts = await Promise.all(
      Object.values(queues).map((q) => q.getJobCounts('wait', 'active')),
    );
    if (counts.every((c) => c.wait === 0 && c.active === 0)) break;
    await sleep(200);
  }
  await sleep(500);
  for (const approach of approaches)
    last[approach] = (await samplers[approach]!.sample()).queues[0]!;

  console.log('\n| approach | median ms | p99 ms | max ms |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const approach of approaches) {
    const l = latencies[approach];
    console.log(
      `| ${approach} | ${fmt(median(l))} | ${fmt(percentile(l, 99))} | ${fmt(Math.max(...l))} |`,
    );
  }
  const ratio = median(latencies.derived) / median(latencies.instrumented);
  console.log(`\nderived / instrumented median read: ${ratio.toFixed(2)}×`);

  console.log(
    '\n| queue | finished (worker count) | processed (sidecar) | mean processing s | live workers | events missed |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const kind of ['instrumented', 'derived'] as const) {
    const s = last[kind]!;
    const processed = s.processing.completed.count + s.processing.failed.count;
    const mean = (s.processing.completed.sum + s.processing.failed.sum) / Math.max(1, processed);
    console.log(
      `| ${kind} | ${finished[kind]} | ${processed} | ${mean.toFixed(4)} | ${s.workerTotals?.live ?? '-'} | ${s.derived?.eventsMissed ?? '-'} |`,
    );
  }
  if (rq && last.rq) {
    const s = last.rq;
    const processed = s.processing.completed.count + s.processing.failed.count;
    console.log(
      // The rq worker's own count: its hash's successful_job_count.
      `| rq | ${s.workers[0]?.completed ?? '-'} | ${processed} | ${(s.processing.completed.sum / Math.max(1, processed)).toFixed(4)} | ${s.workerTotals?.live ?? '-'} | - |`,
    );
  }

  await rqWorker?.stop();
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(Object.values(queues).map((q) => q.close()));
  connection.disconnect();
  reader.disconnect();
});
