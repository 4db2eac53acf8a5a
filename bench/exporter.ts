/**
 * `npm run bench:exporter`: what one exporter scrape costs Redis, qscale against the way other
 * BullMQ exporters read a queue, measured side by side in one run against a redis-server of its
 * own on a free loopback port.
 *
 * - qscale: `QueueSampler.sample()` with `ttlMs: 0` (no cache): one pipeline holding one Lua
 *   script per queue.
 * - other: per queue `getJobCounts()`, then `getMetrics('completed')`, then `getMetrics('failed')`,
 *   one after the other as those exporters do; the queues in parallel (`Promise.all`).
 *
 * Three dimensions, each set up in full before any is measured (real BullMQ jobs from
 * `addBulk`, real `WorkerTelemetry` heartbeats written once, nothing processes the jobs):
 *   a. 0, 10 000 and 1 000 000 waiting jobs in one queue, 1 live worker;
 *   b. 1, 10, 100, 1 000 and 10 000 live workers (every third one busy), 10 000 waiting jobs.
 *      The workers are written by real `WorkerTelemetry` objects, one heartbeat each, exactly as
 *      running workers write them (their report script, their totals). Here qscale is a whole
 *      scrape — `ScrapeSource.refresh()` (the sampler's read) then the registry's `/metrics`
 *      text — in three set-ups: `WORKER_SERIES_LIMIT=0` (queue-level numbers only), the default
 *      `WORKER_SERIES_LIMIT=100`, and every worker listed (`maxWorkers` 10 000, what the sampler
 *      about what the sampler read before the totals existed; 10 scrapes per case, it is slow). Ratios are against the
 *      1-worker case of the same set-up. Setting up 100 or more workers also reports what a
 *      heartbeat costs Redis (usec of the report script), which is where the work moved;
 *   c. 1, 10, 50 and 500 BullMQ queues of 1 000 waiting jobs and 1 live worker each, and 10, 50
 *      and 500 RQ queues of 100 waiting jobs and 1 registered worker each (their `other`: what a
 *      per-queue RQ exporter reads: the queue's length, each registry's size, the workers' hashes),
 *      and 10, 50 and 500 Celery queues of 20 messages sent by Celery itself (their `other`: the
 *      lengths of each queue's lists, as celery-exporter reads them);
 *   d. a queue whose workers have no qscale telemetry (derived numbers from BullMQ's events
 *      stream) with 0, 2 000 and 20 000 events since the last read, beside an instrumented one.
 *
 * Each (case, approach) pair is warmed up, then scraped in blocks of 20 sequential scrapes; the
 * blocks of all pairs of a dimension take turns, in a rotating order, until each pair has its
 * scrapes, so machine noise falls on every pair alike. Latency = wall time of one awaited scrape
 * as the caller sees it (reply parsing included). Commands per scrape = the `INFO commandstats`
 * delta around each block (calls of every command, the commands Lua scripts run inside Redis
 * included, minus the INFO call that took the first snapshot) / scrapes. Sends per scrape = writes
 * to the client's socket (ioredis writes a command or a whole pipeline with one write).
 *
 * Options (env): BENCH_MAX_BACKLOG (largest backlog, default 1 000 000), BENCH_MAX_WORKERS (largest
 * number of workers, default 10 000), BENCH_SCRAPES (scrapes per case and approach, default 200),
 * BENCH_MAX_QUEUES (largest number of queues, default 500), BENCH_DIMENSIONS (the letters of the
 * dimensions to run, default abcd).
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { DEFAULT_BUCKETS } from '../src/config/config.js';
import { createLogger } from '../src/config/logger.js';
import { createExporterRegistry } from '../src/exporter/exporter-metrics.js';
import { ScrapeSource } from '../src/exporter/scrape-source.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { workerTotals } from '../src/queue/queue-snapshot.js';
import { ScalingSignals } from '../src/scaling/scaling-signals.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import type { TestRedisServer } from '../harness/redis-server.js';
import { rqPythonRun } from '../harness/rq.js';
import { celeryPythonRun } from '../harness/celery.js';
import { CeleryKeys } from '../src/kinds/celery/celery-keys.js';
import { parseQueueEntry } from '../src/kinds/queue-addresses.js';
import { watchedQueue } from '../src/kinds/watched-queue.js';
import {
  addCalls,
  callsDelta,
  commandStats,
  countSocketWrites,
  median,
  percentile,
  sumCalls,
  thousands,
  withRedisServer,
  envPositiveInt,
  sleep,
} from './bench-utils.js';

const MAX_BACKLOG = envPositiveInt('BENCH_MAX_BACKLOG', 1_000_000);
const MAX_WORKERS = envPositiveInt('BENCH_MAX_WORKERS', 10_000);
const SCRAPES = envPositiveInt('BENCH_SCRAPES', 200);
/** Which dimensions to run (letters a-d), all by default: `BENCH_DIMENSIONS=c` runs the queues. */
const DIMENSIONS = process.env.BENCH_DIMENSIONS ?? 'abcd';
/** The largest number of queues of the queues dimension. */
const MAX_QUEUES = envPositiveInt('BENCH_MAX_QUEUES', 500);
/** Waiting jobs per RQ queue of the queues dimension (RQ's enqueue is Python, and slower). */
const RQ_WAITING = 100;
/** Waiting messages per Celery queue of the queues dimension. */
const CELERY_WAITING = 20;
const BLOCK = 20;
const WARMUP = 20;
const ADD_BATCH = 5000;
const PREFIX = 'bull';
/** Heartbeat records expire after 3 × this; long enough to outlive every measurement. */
const HEARTBEAT_SECONDS = 3600;

const logger = createLogger({ logLevel: 'silent' }, 'bench');

/**
 * - qscale: the sampler's read alone (dimensions a and c), default `maxWorkers`;
 * - totals, capped, uncapped: a whole scrape with `maxWorkers` 0, 100 (the default) and 10 000;
 * - other: what other BullMQ exporters read.
 */
type Approach = 'qscale' | 'totals' | 'capped' | 'uncapped' | 'other';

const SERIES_LIMIT: Record<'totals' | 'capped' | 'uncapped', number> = {
  totals: 0,
  capped: 100,
  uncapped: 10_000,
};

/**
 * Scrapes per case: every approach gets SCRAPES, but listing every one of 10 000 workers takes
 * up to a second per scrape, so that set-up gets 10 (after 2 warm-up scrapes) to keep the run short.
 */
function scrapesOf(approach: Approach): number {
  return approach === 'uncapped' ? Math.min(SCRAPES, 10) : SCRAPES;
}

function warmupsOf(approach: Approach): number {
  return approach === 'uncapped' ? 2 : WARMUP;
}

const APPROACH_LABEL: Record<Approach, string> = {
  qscale: 'qscale',
  totals: 'qscale, WORKER_SERIES_LIMIT=0 (queue-level only)',
  capped: 'qscale, WORKER_SERIES_LIMIT=100 (default)',
  uncapped: 'qscale, every worker listed',
  other: 'other',
};

interface Case {
  label: string;
  /** Queues of the case, and what each scrape must see in them. */
  queues: { keys: QueueKeys; waiting: number; workers: number }[];
}

interface Measured {
  latencies: number[];
  calls: Map<string, number>;
  /** CPU µs Redis spent in the scripts (EVALSHA/EVAL usec, which includes what the script ran). */
  scriptUsec: number;
  /** CPU µs the redis-server process used (INFO cpu: used_cpu_user + used_cpu_sys). */
  processUsec: number;
  writes: number;
}

/** The clients of one run: each approach scrapes on its own, INFO and set-up on others. */
interface Clients {
  qscale: Redis;
  other: Redis;
  stats: Redis;
  setup: Redis;
  qscaleWrites: { readonly count: number };
  otherWrites: { readonly count: number };
}

function suffix(): string {
  return randomUUID().slice(0, 8);
}

/** Adds `count` small waiting jobs to a queue in batches of {@link ADD_BATCH}. */
async function fill(setup: Redis, queueName: string, count: number): Promise<void> {
  const queue = new Queue(queueName, { connection: setup, prefix: PREFIX });
  try {
    const started = performance.now();
    let lastReport = started;
    for (let added = 0; added < count;) {
      const n = Math.min(ADD_BATCH, count - added);
      await queue.addBulk(
        Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { i: added + i } })),
      );
      added += n;
      const now = performance.now();
      if (count >= 100_000 && (now - lastReport > 5000 || added === count)) {
        lastReport = now;
        const seconds = (now - started) / 1000;
        console.log(
          `  ${queueName}: ${thousands(added)} / ${thousands(count)} jobs added (${seconds.toFixed(0)} s, ${thousands(Math.round(added / seconds))} jobs/s)`,
        );
      }
    }
  } finally {
    await queue.close();
  }
}

/**
 * Writes `count` live workers of a queue, each with one heartbeat of a real WorkerTelemetry (its
 * report script: telemetry hash, live set, its share of the queue's totals); every third one has
 * a busy slot.
 */
async function heartbeats(
  clients: Pick<Clients, 'setup' | 'stats'>,
  keys: QueueKeys,
  count: number,
  into: WorkerTelemetry[],
): Promise<void> {
  const { setup, stats } = clients;
  const before = count >= 100 ? await commandStats(stats) : undefined;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const telemetry = new WorkerTelemetry(setup, keys, logger, {
      workerId: `bench-worker-${i}`,
      concurrency: 10,
      buckets: DEFAULT_BUCKETS,
      heartbeatSeconds: HEARTBEAT_SECONDS,
    });
    if (i % 3 === 0) telemetry.jobStarted();
    await telemetry.heartbeat();
    into.push(telemetry);
  }
  if (before) {
    const ms = performance.now() - started;
    const usec = callsDelta(before.usec, (await commandStats(stats)).usec).get('evalsha') ?? 0;
    console.log(
      `  ${keys.queue}: ${thousands(count)} workers announced in ${(ms / 1000).toFixed(1)} s: ${((ms * 1000) / count).toFixed(0)} µs per heartbeat round trip, ${(usec / count).toFixed(1)} µs Redis CPU per heartbeat (the report script)`,
    );
  }
}

/** A whole scrape: the sampler's read through the exporter's ScrapeSource, then `/metrics`. */
function wholeScrape(clients: Clients, keys: QueueKeys[], maxWorkers: number) {
  const sampler = new QueueSampler(clients.qscale, keys, { ttlMs: 0, maxWorkers });
  const source = new ScrapeSource(new ScalingSignals(sampler, 60), logger);
  const registry = createExporterRegistry(
    source,
    { buckets: DEFAULT_BUCKETS, perWorker: true, sizing: { targetWaitSeconds: 30 } },
    Registry.PROMETHEUS_CONTENT_TYPE,
  );
  return {
    sampler,
    scrape: async () => {
      await source.refresh();
      return registry.metrics();
    },
  };
}

function scrapers(clients: Clients, cases: Case[]) {
  return cases.map((c) => {
    const keys = c.queues.map((q) => q.keys);
    const sampler = new QueueSampler(clients.qscale, keys, { ttlMs: 0 });
    const whole = {
      totals: wholeScrape(clients, keys, SERIES_LIMIT.totals),
      capped: wholeScrape(clients, keys, SERIES_LIMIT.capped),
      uncapped: wholeScrape(clients, keys, SERIES_LIMIT.uncapped),
    };
    const queues = c.queues.map(
      (q) => new Queue(q.keys.queue, { connection: clients.other, prefix: PREFIX }),
    );
    const scrape: Record<Approach, () => Promise<unknown>> = {
      qscale: () => sampler.sample(),
      totals: whole.totals.scrape,
      capped: whole.capped.scrape,
      uncapped: whole.uncapped.scrape,
      other: () =>
        Promise.all(
          c.queues.map(async (q, i) => {
            if (q.keys.kind === 'celery') return otherCelery(clients.other, q.keys);
            if (q.keys.kind !== 'bullmq') return otherRq(clients.other, q.keys);
            const queue = queues[i]!;
            const counts = await queue.getJobCounts();
            const completed = await queue.getMetrics('completed');
            const failed = await queue.getMetrics('failed');
            return { counts, completed, failed };
          }),
        ),
    };
    const samplers: [number, QueueSampler][] = [
      [100, sampler],
      ...Object.entries(whole).map(([name, w]): [number, QueueSampler] => [
        SERIES_LIMIT[name as keyof typeof whole],
        w.sampler,
      ]),
    ];
    return { c, queues, scrape, samplers };
  });
}

/** The redis-server process's CPU time so far, in µs (INFO cpu). */
async function processCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

/**
 * What a per-queue RQ exporter (rq-exporter, rq-dashboard) reads of one queue: the queue's length
 * and each registry's size in one pipeline, then the queue's registered workers and each one's
 * hash (`Worker.all(queue=…)`).
 */
async function otherRq(redis: Redis, keys: QueueKeys): Promise<unknown> {
  const counts = await redis
    .pipeline()
    .llen(keys.rq('queue'))
    .zcard(keys.rq('wip'))
    .zcard(keys.rq('finished'))
    .zcard(keys.rq('failed'))
    .zcard(keys.rq('deferred'))
    .zcard(keys.rq('scheduled'))
    .zcard(keys.rq('canceled'))
    .exec();
  const workers = await redis.smembers(keys.rq('workers'));
  const pipeline = redis.pipeline();
  for (const worker of workers) pipeline.hgetall(worker);
  return { counts, workers: await pipeline.exec() };
}

/**
 * What a per-queue Celery exporter (celery-exporter) reads of one queue: the length of the queue's
 * list and of its priority lists, in one pipeline (its worker numbers come from events).
 */
async function otherCelery(redis: Redis, keys: QueueKeys): Promise<unknown> {
  const pipeline = redis.pipeline();
  for (const key of new CeleryKeys(keys.queue).lists()) pipeline.llen(key);
  return pipeline.exec();
}

/** Every approach must see the state the case was set up with, or the numbers mean nothing. */
async function check(s: ReturnType<typeof scrapers>[number]): Promise<void> {
  const queues = await Promise.all(s.queues.map((queue) => queue.getJobCounts()));
  for (const [limit, sampler] of s.samplers) {
    const sample = await sampler.sample();
    s.c.queues.forEach((q, i) => {
      const snapshot = sample.queues[i]!;
      if (q.keys.kind !== 'bullmq') {
        if (snapshot.counts.wait !== q.waiting || workerTotals(snapshot).live !== q.workers) {
          throw new Error(
            `${s.c.label}, ${q.keys.queue}: expected ${q.waiting} waiting and ${q.workers} workers; qscale saw ${snapshot.counts.wait} and ${workerTotals(snapshot).live}`,
          );
        }
        return;
      }
      const totals = workerTotals(snapshot);
      const listed = Math.min(limit, q.workers);
      const busy = Math.ceil(q.workers / 3);
      if (
        snapshot.counts.wait !== q.waiting ||
        queues[i]!.waiting !== q.waiting ||
        snapshot.workers.length !== listed ||
        totals.live !== q.workers ||
        totals.concurrency !== 10 * q.workers ||
        totals.busy !== busy
      ) {
        throw new Error(
          `${s.c.label}, ${q.keys.queue}, maxWorkers ${limit}: expected ${q.waiting} waiting, ${q.workers} live workers (${listed} listed, ${10 * q.workers} slots, ${busy} busy); qscale saw ${snapshot.counts.wait} waiting, ${totals.live} live (${snapshot.workers.length} listed, ${totals.concurrency} slots, ${totals.busy} busy), getJobCounts ${queues[i]!.waiting} waiting`,
        );
      }
    });
  }
}

async function measure(
  clients: Clients,
  cases: Case[],
  approaches: readonly Approach[],
): Promise<Map<string, Measured>[]> {
  const all = scrapers(clients, cases);
  try {
    for (const s of all) {
      await Promise.all(s.queues.map((queue) => queue.waitUntilReady()));
      await check(s);
      for (const approach of approaches) {
        for (let i = 0; i < warmupsOf(approach); i++) await s.scrape[approach]();
      }
    }
    const runs = all.flatMap((s, index) =>
      approaches.map((approach) => ({
        index,
        approach,
        scrape: s.scrape[approach],
        writes: approach === 'other' ? clients.otherWrites : clients.qscaleWrites,
        result: {
          latencies: [],
          calls: new Map(),
          scriptUsec: 0,
          processUsec: 0,
          writes: 0,
        } as Measured,
      })),
    );
    const blocks = Math.ceil(SCRAPES / BLOCK);
    for (let b = 0; b < blocks; b++) {
      const order = [...runs.slice(b % runs.length), ...runs.slice(0, b % runs.length)];
      if (b % 2 === 1) order.reverse();
      for (const run of order) {
        const n = Math.min(BLOCK, scrapesOf(run.approach) - run.result.latencies.length);
        if (n <= 0) continue;
        const cpuBefore = await processCpu(clients.stats);
        const before = await commandStats(clients.stats);
        const writes = run.writes.count;
        for (let i = 0; i < n; i++) {
          const started = performance.now();
          await run.scrape();
          run.result.latencies.push(performance.now() - started);
        }
        run.result.writes += run.writes.count - writes;
        const after = await commandStats(clients.stats);
        run.result.processUsec += (await processCpu(clients.stats)) - cpuBefore;
        const delta = callsDelta(before.calls, after.calls);
        const usec = callsDelta(before.usec, after.usec);
        // Scripts' usec include the commands they ran (which commandstats lists too); an approach
        // without scripts (the per-queue RQ reads) costs the usec of its commands.
        const scripts = (usec.get('evalsha') ?? 0) + (usec.get('eval') ?? 0);
        usec.delete('info');
        run.result.scriptUsec += scripts > 0 ? scripts : sumCalls(usec);
        // The INFO that took `before` is counted in the second snapshot; nothing else calls INFO.
        const info = (delta.get('info') ?? 0) - 1;
        if (info === 0) delta.delete('info');
        else delta.set('info', info);
        addCalls(run.result.calls, delta);
      }
    }
    return all.map((_, index) => {
      const byApproach = new Map<string, Measured>();
      for (const run of runs) if (run.index === index) byApproach.set(run.approach, run.result);
      return byApproach;
    });
  } finally {
    await Promise.all(all.flatMap((s) => s.queues.map((queue) => queue.close())));
  }
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(3) : value.toFixed(1);
}

function perScrape(value: number, scrapes: number): string {
  const v = value / scrapes;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function breakdown(calls: Map<string, number>, scrapes: number): string {
  return [...calls]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([name, n]) => `${name} ${perScrape(n, scrapes)}`)
    .join(', ');
}

/** Prints one dimension's table and returns the qscale medians by case label. */
function report(title: string, cases: Case[], results: Map<string, Measured>[]): number[] {
  console.log(`\n### ${title}\n`);
  console.log(
    '| case | qscale median ms | qscale p99 ms | qscale cmds/scrape | other median ms | other p99 ms | other cmds/scrape | latency ratio other/qscale |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const medians: number[] = [];
  cases.forEach((c, i) => {
    const q = results[i]!.get('qscale')!;
    const o = results[i]!.get('other')!;
    const qMedian = median(q.latencies);
    const oMedian = median(o.latencies);
    medians.push(qMedian);
    console.log(
      `| ${c.label} | ${ms(qMedian)} | ${ms(percentile(q.latencies, 99))} | ${perScrape(sumCalls(q.calls), q.latencies.length)} | ${ms(oMedian)} | ${ms(percentile(o.latencies, 99))} | ${perScrape(sumCalls(o.calls), o.latencies.length)} | ${(oMedian / qMedian).toFixed(2)}× |`,
    );
  });
  console.log(
    '\nRedis commands per scrape, by command (INFO commandstats; commands run inside Lua scripts count too):',
  );
  cases.forEach((c, i) => {
    for (const approach of ['qscale', 'other'] as const) {
      const m = results[i]!.get(approach)!;
      console.log(`- ${c.label}, ${approach}: ${breakdown(m.calls, m.latencies.length)}`);
    }
  });
  console.log(
    '\nSends per scrape (measured: writes to the client socket), sequential round trips (by construction) and Redis CPU per scrape (measured: usec of EVALSHA in INFO commandstats, which includes the commands the scripts run):',
  );
  cases.forEach((c, i) => {
    const q = results[i]!.get('qscale')!;
    const o = results[i]!.get('other')!;
    const cpu = (m: Measured) => `${(m.scriptUsec / m.latencies.length).toFixed(1)} µs Redis CPU`;
    const perQueue = (m: Measured, c: Case) =>
      `${(m.scriptUsec / m.latencies.length / c.queues.length).toFixed(2)} µs and ${(sumCalls(m.calls) / m.latencies.length / c.queues.length).toFixed(1)} commands per queue; redis-server process CPU ${(m.processUsec / m.latencies.length / c.queues.length).toFixed(2)} µs per queue`;
    console.log(
      `- ${c.label}: qscale ${perScrape(q.writes, q.latencies.length)} send(s), 1 round trip (one pipeline), ${cpu(q)} (${perQueue(q, c)}); other ${perScrape(o.writes, o.latencies.length)} sends, up to 3 sequential round trips (BullMQ: getJobCounts → getMetrics → getMetrics; RQ: lengths → workers → their hashes; Celery: one pipeline of lengths; queues in parallel), ${cpu(o)} (${perQueue(o, c)})`,
    );
  });
  return medians;
}

/** Per scrape: median and p99 latency, Redis CPU (µs) and commands. */
function figures(m: Measured) {
  const n = m.latencies.length;
  return {
    median: median(m.latencies),
    p99: percentile(m.latencies, 99),
    usec: m.scriptUsec / n,
    calls: sumCalls(m.calls) / n,
    writes: m.writes / n,
  };
}

/**
 * Prints the workers dimension: per set-up and case, latency and Redis CPU per scrape and their
 * ratio to the 1-worker case of the same set-up. Returns the figures by approach and case.
 */
function reportWorkers(
  title: string,
  cases: Case[],
  results: Map<string, Measured>[],
  approaches: readonly Approach[],
): Map<Approach, ReturnType<typeof figures>[]> {
  console.log(`\n### ${title}\n`);
  console.log(
    '| set-up | live workers | median ms | vs 1 worker | p99 ms | Redis CPU µs/scrape | vs 1 worker | cmds/scrape | sends/scrape |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  const all = new Map<Approach, ReturnType<typeof figures>[]>();
  for (const approach of approaches) {
    const rows = cases.map((_, i) => figures(results[i]!.get(approach)!));
    all.set(approach, rows);
    const base = rows[0]!;
    // The other approach reads no worker at all; its Redis CPU is not in scripts.
    const cpu = (f: ReturnType<typeof figures>) => (approach === 'other' ? '–' : f.usec.toFixed(1));
    const cpuRatio = (f: ReturnType<typeof figures>) =>
      approach === 'other' ? '–' : `${(f.usec / base.usec).toFixed(2)}×`;
    cases.forEach((c, i) => {
      const f = rows[i]!;
      console.log(
        `| ${APPROACH_LABEL[approach]} | ${thousands(c.queues[0]!.workers)} | ${ms(f.median)} | ${(f.median / base.median).toFixed(2)}× | ${ms(f.p99)} | ${cpu(f)} | ${cpuRatio(f)} | ${perScrape(f.calls, 1)} | ${perScrape(f.writes, 1)} |`,
      );
    });
  }
  console.log(
    '\nRedis commands per scrape, by command (INFO commandstats; commands run inside Lua scripts count too):',
  );
  cases.forEach((c, i) => {
    for (const approach of approaches) {
      const m = results[i]!.get(approach)!;
      console.log(
        `- ${c.label}, ${APPROACH_LABEL[approach]}: ${breakdown(m.calls, m.latencies.length)}`,
      );
    }
  });
  return all;
}

async function dimension<T>(
  clients: Clients,
  title: string,
  build: (telemetries: WorkerTelemetry[]) => Promise<Case[]>,
  approaches: readonly Approach[],
  print: (title: string, cases: Case[], results: Map<string, Measured>[]) => T,
): Promise<T> {
  const telemetries: WorkerTelemetry[] = [];
  try {
    console.log(`\nsetting up: ${title}`);
    const cases = await build(telemetries);
    console.log(`measuring: ${cases.map((c) => c.label).join(', ')}`);
    const results = await measure(clients, cases, approaches);
    return print(title, cases, results);
  } finally {
    await Promise.all(telemetries.map((t) => t.close()));
    // This redis-server is the benchmark's own: clearing it keeps one dimension from weighing on
    // the next.
    await clients.setup.flushall();
  }
}

/**
 * d. Workers without qscale telemetry (derived numbers): one queue whose 5 000 jobs a plain BullMQ
 * worker processed (its events stream then holds ~20 000 events; `streams.events.maxLen` 30 000),
 * read with 0, 2 000 and 20 000 events since the sampler's last read (the sampler's cursor is put
 * back that far before each read), beside an instrumented queue (one live worker). Neither has a
 * backlog. CLIENT LIST (every 5 s) is outside these reads.
 */
async function derivedDimension(clients: Clients): Promise<void> {
  const { setup, stats, qscale } = clients;
  const derivedName = `bench_derived_${suffix()}`;
  const queue = new Queue(derivedName, {
    connection: setup,
    prefix: PREFIX,
    streams: { events: { maxLen: 30_000 } },
  });
  const processed = 5000;
  const workerConnection = new Redis(setup.options.port!, setup.options.host!, {
    maxRetriesPerRequest: null,
  });
  const worker = new Worker(derivedName, async () => undefined, {
    connection: workerConnection,
    prefix: PREFIX,
    concurrency: 50,
  });
  let done = 0;
  worker.on('completed', () => done++);
  for (let i = 0; i < processed; i += ADD_BATCH) {
    await queue.addBulk(
      Array.from({ length: Math.min(ADD_BATCH, processed - i) }, () => ({ name: 'j', data: {} })),
    );
  }
  while (done < processed) await sleep(100);
  await worker.close();
  workerConnection.disconnect();
  // No backlog in either queue: the events read are the processed jobs' (dimension a shows the
  // backlog does not change a read's cost).
  const instrumentedKeys = new QueueKeys(PREFIX, `bench_instrumented_${suffix()}`);
  const telemetries: WorkerTelemetry[] = [];
  await heartbeats(clients, instrumentedKeys, 1, telemetries);
  const eventsKey = `${PREFIX}:${derivedName}:events`;
  // Ids newest first: ids[n] is the cursor that leaves n events to read.
  const ids = (await setup.xrevrange(eventsKey, '+', '-', 'COUNT', 20_001)).map(([id]) => id);
  const derivedSampler = new QueueSampler(qscale, new QueueKeys(PREFIX, derivedName), {
    ttlMs: 0,
    workerListTtlMs: 3_600_000,
  });
  await derivedSampler.sample(); // the first read (and the one CLIENT LIST) before measuring
  const state = (
    derivedSampler as unknown as { bullmqDerived: Map<string, { cursor?: string }> }
  ).bullmqDerived.get(derivedName)!;
  const instrumentedSampler = new QueueSampler(qscale, instrumentedKeys, { ttlMs: 0 });
  const scrapes = Math.min(SCRAPES, 40);
  const rows: { label: string; median: number; p99: number; cmds: number; usec: number }[] = [];
  const cases: { label: string; read: () => Promise<unknown> }[] = [
    { label: 'instrumented (exact telemetry)', read: () => instrumentedSampler.sample() },
    ...[0, 2000, 20_000].map((n) => ({
      label: `derived, ${thousands(n)} new events`,
      read: () => {
        state.cursor = ids[Math.min(n, ids.length - 1)]!;
        return derivedSampler.sample();
      },
    })),
  ];
  for (const c of cases) {
    for (let i = 0; i < 3; i++) await c.read();
    const latencies: number[] = [];
    const before = await commandStats(stats);
    for (let i = 0; i < scrapes; i++) {
      const started = performance.now();
      await c.read();
      latencies.push(performance.now() - started);
    }
    const after = await commandStats(stats);
    const calls = callsDelta(before.calls, after.calls);
    calls.set('info', (calls.get('info') ?? 1) - 1);
    const usec =
      ['evalsha', 'eval'].reduce(
        (sum, name) => sum + (after.usec.get(name) ?? 0) - (before.usec.get(name) ?? 0),
        0,
      ) / scrapes;
    rows.push({
      label: c.label,
      median: median(latencies),
      p99: percentile(latencies, 99),
      cmds: sumCalls(calls) / scrapes,
      usec,
    });
  }
  console.log(
    `\n## d. workers without qscale telemetry (${scrapes} reads per case, one case after the other)\n`,
  );
  console.log('| case | median ms | p99 ms | cmds/read | Redis µs/read | vs instrumented |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    console.log(
      `| ${row.label} | ${ms(row.median)} | ${ms(row.p99)} | ${row.cmds.toFixed(0)} | ${row.usec.toFixed(0)} | ${(row.median / rows[0]!.median).toFixed(2)}× |`,
    );
  }
  for (const telemetry of telemetries) await telemetry.close();
  await queue.close();
}

/**
 * c. Queues: 1, 10, 50 and 500 BullMQ queues of 1 000 waiting jobs and 1 live worker each, and
 * 10, 50 and 500 RQ queues of 100 waiting jobs (enqueued by RQ itself) and 1 registered worker
 * each, read by qscale's sampler and by the per-queue approach of each library's exporters.
 */
async function queuesDimension(clients: Clients): Promise<void> {
  const counts = [1, 10, 50, 500].filter((n) => n <= MAX_QUEUES);
  const most = counts[counts.length - 1]!;
  await dimension(
    clients,
    'c. queues (BullMQ: 1 000 waiting and 1 live worker each; RQ: 100 waiting and 1 registered worker each; Celery: 20 waiting each)',
    async (telemetries) => {
      const bullmq: Case['queues'] = [];
      for (let i = 0; i < most; i++) {
        const keys = new QueueKeys(PREFIX, `bench_queues_${i}_${suffix()}`);
        await fill(clients.setup, keys.queue, 1000);
        await heartbeats(clients, keys, 1, telemetries);
        bullmq.push({ keys, waiting: 1000, workers: 1 });
      }
      const rq = await fillRq(clients, most, RQ_WAITING);
      const celery = await fillCelery(clients, most, CELERY_WAITING);
      return [
        ...counts.map((n) => ({
          label: `${n} BullMQ queue${n === 1 ? '' : 's'}`,
          queues: bullmq.slice(0, n),
        })),
        ...counts
          .filter((n) => n > 1)
          .map((n) => ({ label: `${n} RQ queues`, queues: rq.slice(0, n) })),
        ...counts
          .filter((n) => n > 1)
          .map((n) => ({ label: `${n} Celery queues`, queues: celery.slice(0, n) })),
      ];
    },
    ['qscale', 'other'],
    report,
  );
}

/**
 * `count` RQ queues of `waiting` jobs each, enqueued with RQ's own Python API, and one worker
 * registered for each (`Worker.register_birth()`, what a starting `rq worker` writes).
 */
async function fillRq(
  clients: Pick<Clients, 'setup'>,
  count: number,
  waiting: number,
): Promise<Case['queues']> {
  const names = Array.from({ length: count }, (_, i) => `bench_rq_${i}_${suffix()}`);
  const port = (clients.setup.options as { port: number }).port;
  await rqPythonRun(
    [
      'import json',
      'from redis import Redis',
      'from rq import Queue, Worker',
      `r = Redis(host='127.0.0.1', port=${port})`,
      `for name in json.loads(${JSON.stringify(JSON.stringify(names))}):`,
      '    q = Queue(name, connection=r)',
      `    for i in range(${waiting}):`,
      "        q.enqueue('qscale_rq_jobs.work', 0)",
      "    Worker([q], connection=r, name='bench-' + name).register_birth()",
    ].join('\n'),
    600_000,
  );
  return names.map((name) => ({
    keys: new QueueKeys('rq', name, 'rq'),
    waiting,
    workers: 1,
  }));
}

/**
 * `count` Celery queues of `waiting` messages each, sent with Celery's own API (kombu's Redis
 * transport); no worker (Celery's worker numbers come from its events, which need none here).
 */
async function fillCelery(
  clients: Pick<Clients, 'setup'>,
  count: number,
  waiting: number,
): Promise<Case['queues']> {
  const names = Array.from({ length: count }, (_, i) => `bench_celery_${i}_${suffix()}`);
  const port = (clients.setup.options as { port: number }).port;
  await celeryPythonRun(
    port,
    [
      'import json',
      'import qscale_celery_tasks as tasks',
      `for name in json.loads(${JSON.stringify(JSON.stringify(names))}):`,
      `    for i in range(${waiting}):`,
      '        tasks.work.apply_async((0,), queue=name)',
    ].join('\n'),
    600_000,
  );
  return names.map((name) => {
    const address = parseQueueEntry(`celery:${name}`, PREFIX);
    if (typeof address === 'string' || 'pattern' in address) throw new Error(String(address));
    return { keys: watchedQueue(address).keys, waiting, workers: 0 };
  });
}

async function run(server: TestRedisServer): Promise<void> {
  const qscale = server.client();
  const other = server.client();
  const stats = server.client();
  const setup = server.client();
  try {
    await Promise.all([qscale, other, stats, setup].map((c) => c.ping()));
    const clients: Clients = {
      qscale,
      other,
      stats,
      setup,
      qscaleWrites: countSocketWrites(qscale),
      otherWrites: countSocketWrites(other),
    };
    const version = (await stats.info('server')).match(/redis_version:(\S+)/)?.[1];
    console.log(
      `redis-server ${version} on 127.0.0.1:${server.port} (the benchmark's own); ${SCRAPES} scrapes per case and approach (${scrapesOf('uncapped')} after ${warmupsOf('uncapped')} warm-ups for every worker listed) after ${WARMUP} warm-up scrapes, in interleaved blocks of ${BLOCK}`,
    );
    console.log(
      'qscale = QueueSampler.sample() (ttlMs 0): counts, backlog, oldest job, live workers, 3 histograms per queue',
    );
    console.log(
      "other = per queue getJobCounts(), getMetrics('completed'), getMetrics('failed') in sequence; queues in parallel",
    );

    const sizes = [...new Set([0, Math.min(10_000, MAX_BACKLOG), MAX_BACKLOG])];
    const backlogMedians = !DIMENSIONS.includes('a')
      ? []
      : await dimension(
          clients,
          'a. backlog (one queue, 1 live worker)',
          async (telemetries) => {
            const cases: Case[] = [];
            for (const size of sizes) {
              const keys = new QueueKeys(PREFIX, `bench_backlog_${size}_${suffix()}`);
              await fill(setup, keys.queue, size);
              await heartbeats(clients, keys, 1, telemetries);
              cases.push({
                label: `${thousands(size)} waiting`,
                queues: [{ keys, waiting: size, workers: 1 }],
              });
            }
            return cases;
          },
          ['qscale', 'other'],
          report,
        );

    const fleetSizes = [
      ...new Set([1, 10, 100, 1000, MAX_WORKERS].filter((n) => n <= MAX_WORKERS)),
    ];
    const workerApproaches = ['totals', 'capped', 'uncapped', 'other'] as const;
    const byWorkers = !DIMENSIONS.includes('b')
      ? undefined
      : await dimension(
          clients,
          'b. live workers (one queue, 10 000 waiting; qscale = a whole scrape: Redis read + /metrics text)',
          async (telemetries) => {
            const cases: Case[] = [];
            for (const workers of fleetSizes) {
              const keys = new QueueKeys(PREFIX, `bench_workers_${workers}_${suffix()}`);
              await fill(setup, keys.queue, 10_000);
              await heartbeats(clients, keys, workers, telemetries);
              cases.push({
                label: `${thousands(workers)} worker${workers === 1 ? '' : 's'}`,
                queues: [{ keys, waiting: 10_000, workers }],
              });
            }
            return cases;
          },
          workerApproaches,
          (title, cases, results) => reportWorkers(title, cases, results, workerApproaches),
        );

    if (DIMENSIONS.includes('c')) await queuesDimension(clients);

    if (DIMENSIONS.includes('d')) await derivedDimension(clients);

    if (backlogMedians.length === 0 || !byWorkers) return;
    const ratio = backlogMedians[backlogMedians.length - 1]! / backlogMedians[0]!;
    if (sizes.length === 3) {
      console.log(
        `\nscrape latency at ${thousands(MAX_BACKLOG)} vs ${thousands(sizes[1]!)} waiting jobs: ${(backlogMedians[2]! / backlogMedians[1]!).toFixed(2)}× (qscale medians)`,
      );
    }
    console.log(
      `\nscrape latency at ${thousands(MAX_BACKLOG)} waiting jobs vs empty queue: ${ratio.toFixed(2)}× (target ≤ 2×)`,
    );
    const most = fleetSizes.length - 1;
    const versus = (approach: Approach, i: number, j: number) => {
      const rows = byWorkers.get(approach)!;
      return `scrape latency ${(rows[i]!.median / rows[j]!.median).toFixed(2)}×, Redis CPU ${(rows[i]!.usec / rows[j]!.usec).toFixed(2)}× (${rows[j]!.usec.toFixed(1)} → ${rows[i]!.usec.toFixed(1)} µs per scrape)`;
    };
    const top = thousands(fleetSizes[most]!);
    console.log(
      `queue-level numbers (WORKER_SERIES_LIMIT=0) at ${top} workers vs 1 worker: ${versus('totals', most, 0)} (target ≤ 2×)`,
    );
    const hundred = fleetSizes.indexOf(100);
    if (hundred >= 0) {
      console.log(
        `default WORKER_SERIES_LIMIT=100 at ${top} workers vs 100 workers: ${versus('capped', most, hundred)} (flat beyond the cap); vs 1 worker: ${versus('capped', most, 0)}`,
      );
    }
    console.log(
      `every worker listed at ${top} workers vs 1 worker: ${versus('uncapped', most, 0)}`,
    );
  } finally {
    for (const client of [qscale, other, stats, setup]) client.disconnect();
  }
}

await withRedisServer(run);
