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
 *   b. 1, 10 and 100 live workers, 10 000 waiting jobs;
 *   c. 1, 10 and 50 queues of 1 000 waiting jobs and 1 live worker each.
 *
 * Each (case, approach) pair is warmed up, then scraped in blocks of 20 sequential scrapes; the
 * blocks of all pairs of a dimension take turns, in a rotating order, until each pair has its
 * scrapes, so machine noise falls on every pair alike. Latency = wall time of one awaited scrape
 * as the caller sees it (reply parsing included). Commands per scrape = the `INFO commandstats`
 * delta around each block (calls of every command, the commands Lua scripts run inside Redis
 * included, minus the INFO call that took the first snapshot) / scrapes. Sends per scrape = writes
 * to the client's socket (ioredis writes a command or a whole pipeline with one write).
 *
 * Options (env): BENCH_MAX_BACKLOG (largest backlog, default 1 000 000), BENCH_SCRAPES (scrapes per
 * case and approach, default 200).
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_BUCKETS } from '../src/config/config.js';
import { createLogger } from '../src/config/logger.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/queue/queue-sampler.js';
import { WorkerTelemetry } from '../src/worker/worker-telemetry.js';
import type { TestRedisServer } from '../test/helpers/redis-server.js';
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
} from './bench-utils.js';

const MAX_BACKLOG = envPositiveInt('BENCH_MAX_BACKLOG', 1_000_000);
const SCRAPES = envPositiveInt('BENCH_SCRAPES', 200);
const BLOCK = 20;
const WARMUP = 20;
const ADD_BATCH = 5000;
const PREFIX = 'bull';
/** Heartbeat records expire after 3 × this; long enough to outlive every measurement. */
const HEARTBEAT_SECONDS = 3600;

const logger = createLogger({ logLevel: 'silent' }, 'bench');

type Approach = 'qscale' | 'other';

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

/** Writes `count` live workers of a queue, each with one heartbeat of a real WorkerTelemetry. */
async function heartbeats(
  setup: Redis,
  keys: QueueKeys,
  count: number,
  into: WorkerTelemetry[],
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const telemetry = new WorkerTelemetry(setup, keys, logger, {
      workerId: `bench-worker-${i}`,
      concurrency: 10,
      buckets: DEFAULT_BUCKETS,
      heartbeatSeconds: HEARTBEAT_SECONDS,
    });
    await telemetry.heartbeat();
    into.push(telemetry);
  }
}

function scrapers(clients: Clients, cases: Case[]) {
  return cases.map((c) => {
    const sampler = new QueueSampler(
      clients.qscale,
      c.queues.map((q) => q.keys),
      { ttlMs: 0 },
    );
    const queues = c.queues.map(
      (q) => new Queue(q.keys.queue, { connection: clients.other, prefix: PREFIX }),
    );
    return {
      c,
      sampler,
      queues,
      qscale: () => sampler.sample(),
      other: () =>
        Promise.all(
          queues.map(async (queue) => {
            const counts = await queue.getJobCounts();
            const completed = await queue.getMetrics('completed');
            const failed = await queue.getMetrics('failed');
            return { counts, completed, failed };
          }),
        ),
    };
  });
}

/** Both approaches must see the state the case was set up with, or the numbers mean nothing. */
async function check(s: ReturnType<typeof scrapers>[number]): Promise<void> {
  const sample = await s.qscale();
  const other = await s.other();
  s.c.queues.forEach((q, i) => {
    const snapshot = sample.queues[i]!;
    const counts = other[i]!.counts;
    if (
      snapshot.counts.wait !== q.waiting ||
      snapshot.workers.length !== q.workers ||
      counts.waiting !== q.waiting
    ) {
      throw new Error(
        `${s.c.label}, ${q.keys.queue}: expected ${q.waiting} waiting and ${q.workers} workers; qscale saw ${snapshot.counts.wait} waiting and ${snapshot.workers.length} workers, getJobCounts ${counts.waiting} waiting`,
      );
    }
  });
}

async function measure(clients: Clients, cases: Case[]): Promise<Map<string, Measured>[]> {
  const all = scrapers(clients, cases);
  try {
    for (const s of all) {
      await Promise.all(s.queues.map((queue) => queue.waitUntilReady()));
      await check(s);
      for (let i = 0; i < WARMUP; i++) {
        await s.qscale();
        await s.other();
      }
    }
    const runs = all.flatMap((s, index) =>
      (['qscale', 'other'] as const).map((approach: Approach) => ({
        index,
        approach,
        scrape: s[approach] as () => Promise<unknown>,
        writes: approach === 'qscale' ? clients.qscaleWrites : clients.otherWrites,
        result: { latencies: [], calls: new Map(), scriptUsec: 0, writes: 0 } as Measured,
      })),
    );
    const blocks = Math.ceil(SCRAPES / BLOCK);
    for (let b = 0; b < blocks; b++) {
      const n = Math.min(BLOCK, SCRAPES - b * BLOCK);
      const order = [...runs.slice(b % runs.length), ...runs.slice(0, b % runs.length)];
      if (b % 2 === 1) order.reverse();
      for (const run of order) {
        const before = await commandStats(clients.stats);
        const writes = run.writes.count;
        for (let i = 0; i < n; i++) {
          const started = performance.now();
          await run.scrape();
          run.result.latencies.push(performance.now() - started);
        }
        run.result.writes += run.writes.count - writes;
        const after = await commandStats(clients.stats);
        const delta = callsDelta(before.calls, after.calls);
        const usec = callsDelta(before.usec, after.usec);
        run.result.scriptUsec += (usec.get('evalsha') ?? 0) + (usec.get('eval') ?? 0);
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
    console.log(
      `- ${c.label}: qscale ${perScrape(q.writes, q.latencies.length)} send(s), 1 round trip (one pipeline), ${cpu(q)}; other ${perScrape(o.writes, o.latencies.length)} sends, 3 sequential round trips (getJobCounts → getMetrics → getMetrics, queues in parallel), ${cpu(o)}`,
    );
  });
  return medians;
}

async function dimension(
  clients: Clients,
  title: string,
  build: (telemetries: WorkerTelemetry[]) => Promise<Case[]>,
): Promise<number[]> {
  const telemetries: WorkerTelemetry[] = [];
  try {
    console.log(`\nsetting up: ${title}`);
    const cases = await build(telemetries);
    console.log(`measuring: ${cases.map((c) => c.label).join(', ')}`);
    const results = await measure(clients, cases);
    return report(title, cases, results);
  } finally {
    await Promise.all(telemetries.map((t) => t.close()));
    // This redis-server is the benchmark's own: clearing it keeps one dimension from weighing on
    // the next.
    await clients.setup.flushall();
  }
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
      `redis-server ${version} on 127.0.0.1:${server.port} (the benchmark's own); ${SCRAPES} scrapes per case and approach after ${WARMUP} warm-up scrapes, in interleaved blocks of ${BLOCK}`,
    );
    console.log(
      'qscale = QueueSampler.sample() (ttlMs 0): counts, backlog, oldest job, live workers, 3 histograms per queue',
    );
    console.log(
      "other = per queue getJobCounts(), getMetrics('completed'), getMetrics('failed') in sequence; queues in parallel",
    );

    const sizes = [...new Set([0, Math.min(10_000, MAX_BACKLOG), MAX_BACKLOG])];
    const backlogMedians = await dimension(
      clients,
      'a. backlog (one queue, 1 live worker)',
      async (telemetries) => {
        const cases: Case[] = [];
        for (const size of sizes) {
          const keys = new QueueKeys(PREFIX, `bench_backlog_${size}_${suffix()}`);
          await fill(setup, keys.queue, size);
          await heartbeats(setup, keys, 1, telemetries);
          cases.push({
            label: `${thousands(size)} waiting`,
            queues: [{ keys, waiting: size, workers: 1 }],
          });
        }
        return cases;
      },
    );

    await dimension(clients, 'b. live workers (one queue, 10 000 waiting)', async (telemetries) => {
      const cases: Case[] = [];
      for (const workers of [1, 10, 100]) {
        const keys = new QueueKeys(PREFIX, `bench_workers_${workers}_${suffix()}`);
        await fill(setup, keys.queue, 10_000);
        await heartbeats(setup, keys, workers, telemetries);
        cases.push({
          label: `${workers} worker${workers === 1 ? '' : 's'}`,
          queues: [{ keys, waiting: 10_000, workers }],
        });
      }
      return cases;
    });

    await dimension(
      clients,
      'c. queues (1 000 waiting and 1 live worker each)',
      async (telemetries) => {
        const all: Case['queues'] = [];
        for (let i = 0; i < 50; i++) {
          const keys = new QueueKeys(PREFIX, `bench_queues_${i}_${suffix()}`);
          await fill(setup, keys.queue, 1000);
          await heartbeats(setup, keys, 1, telemetries);
          all.push({ keys, waiting: 1000, workers: 1 });
        }
        return [1, 10, 50].map((n) => ({
          label: `${n} queue${n === 1 ? '' : 's'}`,
          queues: all.slice(0, n),
        }));
      },
    );

    const ratio = backlogMedians[backlogMedians.length - 1]! / backlogMedians[0]!;
    if (sizes.length === 3) {
      console.log(
        `\nscrape latency at ${thousands(MAX_BACKLOG)} vs ${thousands(sizes[1]!)} waiting jobs: ${(backlogMedians[2]! / backlogMedians[1]!).toFixed(2)}× (qscale medians)`,
      );
    }
    console.log(
      `\nscrape latency at ${thousands(MAX_BACKLOG)} waiting jobs vs empty queue: ${ratio.toFixed(2)}× (target ≤ 2×)`,
    );
  } finally {
    for (const client of [qscale, other, stats, setup]) client.disconnect();
  }
}

await withRedisServer(run);
