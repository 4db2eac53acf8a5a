/**
 * `npm run bench:cluster`: qscale on one redis-server and on a Redis Cluster of 3 masters (no
 * replicas), side by side in one run, both of the benchmark's own on free loopback ports.
 *
 * 1. Pipeline throughput. 3 queues (on the cluster, each under a hash tag served by another
 *    master), BENCH_FILES tiny text files spread over them (near-zero processing cost, so what is
 *    measured is the queue and Redis work per file). Per Redis: one `qscale app` process per queue
 *    takes the uploads while the queues are paused (upload rate); then one `qscale worker`
 *    process per queue (the same 3 worker processes, WORKER_CONCURRENCY=4, for both) connects, the
 *    queues are resumed and the clock runs until every job is completed (processing rate).
 * 2. Exporter. The same 3 queues plus a fourth that shares a master with the first (so one master
 *    serves two queues), BENCH_SCRAPES reads each: `QueueSampler.sample()` (no cache) and
 *    `GET /metrics` of an in-process exporter (SAMPLE_TTL_MS=0). Latency as the caller sees it;
 *    requests per master per sample = writes to each master connection's socket (ioredis writes
 *    a pipeline with one write) / samples; scripts per master per sample = the EVAL + EVALSHA
 *    delta of `INFO commandstats` on each master / samples.
 *
 * Runs the built CLI (dist/, built first). Options (env): BENCH_FILES (default 1200),
 * BENCH_SCRAPES (default 300).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../src/config/config.js';
import { loadConfig, type Env } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { runExporter } from '../src/cli/run-exporter.js';
import { QueueKeys } from '../src/queue/queue-keys.js';
import { QueueSampler } from '../src/sampling/queue-sampler.js';
import { createRedis, isCluster, type RedisClient } from '../src/redis/redis-connection.js';
import { CliProcess } from '../harness/cli-process.js';
import { startRedisCluster } from '../harness/redis-cluster.js';
import { startRedisServer } from '../harness/redis-server.js';
import { withCleanup, type Stoppable } from './with-cleanup.js';
import { envPositiveInt, sleep } from './bench-env.js';

const FILES = envPositiveInt('BENCH_FILES', 1200);
const SCRAPES = envPositiveInt('BENCH_SCRAPES', 300);
const CONCURRENCY = 4;
const UPLOADERS = 8;
const WARMUP = 20;

/** The p-th percentile (0..100) by nearest rank. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

type Track = <S extends Stoppable>(stoppable: S) => S;

/** A Redis to run against: its settings, its queues, and its master nodes (by port). */
interface Topology {
  label: string;
  env: Env;
  queues: { name: string; prefix: string }[];
  /** A fourth queue, on the master of the first. */
  extra: { name: string; prefix: string };
  masterPorts: number[];
}

async function topologies(track: Track): Promise<Topology[]> {
  const suffix = randomUUID().slice(0, 6);
  const names = [1, 2, 3, 4].map((i) => `bench_q${i}_${suffix}`) as [
    string,
    string,
    string,
    string,
  ];
  const redis = track(await startRedisServer());
  const cluster = track(await startRedisCluster({ masters: 3 }));
  const onMasters = await cluster.hashTagsOnEveryMaster('bull');
  const tags = onMasters.map(({ tag }) => tag);
  return [
    {
      label: 'one redis-server',
      env: { REDIS_URL: redis.url, QUEUE_PREFIX: 'bull' },
      queues: names.slice(0, 3).map((name) => ({ name, prefix: 'bull' })),
      extra: { name: names[3], prefix: 'bull' },
      masterPorts: [redis.port],
    },
    {
      label: '3-master cluster',
      env: { REDIS_CLUSTER_NODES: cluster.seeds, QUEUE_PREFIX: tags[0]! },
      queues: names.slice(0, 3).map((name, i) => ({ name, prefix: tags[i]! })),
      extra: {
        name: names[3],
        prefix: await cluster.hashTagOn(onMasters[0]!.master.port, 'extra'),
      },
      masterPorts: onMasters.map(({ master }) => master.port),
    },
  ];
}

function configOf(topology: Topology, env: Env = {}): Config {
  return loadConfig({ ...topology.env, LOG_LEVEL: 'silent', ...env });
}

/** The master connections of a client: the client itself on one node. */
function masterNodes(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

async function throughput(track: Track, topology: Topology) {
  const uploadDir = await mkdtemp(join(tmpdir(), 'qscale-bench-cluster-'));
  const connection = createRedis(configOf(topology).redis, { role: 'worker' });
  connection.on('error', () => undefined);
  const queues = topology.queues.map((q) => new Queue(q.name, { connection, prefix: q.prefix }));
  const sampler = new QueueSampler(
    connection,
    topology.queues.map((q) => new QueueKeys(q.prefix, q.name)),
    { ttlMs: 0, timeoutMs: 10_000 },
  );
  const processes: CliProcess[] = [];
  const start = (command: string, q: { name: string; prefix: string }, id: string) => {
    const proc = new CliProcess(
      [command],
      {
        ...(topology.env as Record<string, string>),
        QUEUE_NAME: q.name,
        QUEUE_PREFIX: q.prefix,
        UPLOAD_DIR: uploadDir,
        PORT: '0',
        HOST: '127.0.0.1',
        WORKER_ID: id,
        WORKER_CONCURRENCY: String(CONCURRENCY),
        KEEP_COMPLETED_JOBS: String(FILES),
      },
      { entry: 'dist' },
    );
    processes.push(track(proc));
    return proc;
  };
  try {
    await Promise.all(queues.map((queue) => queue.pause()));
    const apps = topology.queues.map((q, i) => start('app', q, `bench-app-${i}`));
    const urls = await Promise.all(
      apps.map(async (app) => String((await app.waitForLog((l) => !!l.upload)).url)),
    );
    const uploadStarted = performance.now();
    let next = 0;
    const uploader = async () => {
      while (next < FILES) {
        const i = next++;
        const form = new FormData();
        form.append('file', new Blob([`File ${i} is about topic-${i % 50}.`]), `f-${i}.txt`);
        const res = await fetch(`${urls[i % urls.length]}/api/v1/files`, {
          method: 'POST',
          body: form,
        });
        if (res.status !== 202) throw new Error(`upload answered ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: UPLOADERS }, uploader));
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;

    const workers = topology.queues.map((q, i) => start('worker', q, `bench-worker-${i}`));
    await Promise.all(workers.map((w) => w.waitForLog((l) => l.msg === 'worker taking jobs')));
    const drainStarted = performance.now();
    await Promise.all(queues.map((queue) => queue.resume()));
    for (;;) {
      const sample = await sampler.sample();
      const failed = sample.queues.reduce((sum, q) => sum + q.counts.failed, 0);
      if (failed > 0) throw new Error(`${topology.label}: ${failed} jobs failed`);
      const completed = sample.queues.reduce((sum, q) => sum + q.counts.completed, 0);
      if (completed >= FILES) break;
      await sleep(10);
    }
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    return { uploadSeconds, drainSeconds };
  } finally {
    await Promise.all(processes.map((proc) => proc.stop()));
    await Promise.all(queues.map((queue) => queue.close()));
    connection.disconnect();
    await rm(uploadDir, { recursive: true, force: true });
  }
}

/** EVAL + EVALSHA calls so far on each master. */
async function scriptCalls(ports: number[]): Promise<number[]> {
  return Promise.all(
    ports.map(async (port) => {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      try {
        const info = await client.info('commandstats');
        let calls = 0;
        for (const match of info.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)) {
          calls += Number(match[1]);
        }
        return calls;
      } finally {
        client.disconnect();
      }
    }),
  );
}

interface ReadCost {
  latencies: number[];
  /** Per master, in the order of `masterPorts`; undefined where not measured. */
  requestsPerSample?: number[];
  scriptsPerSample: number[];
}

/** Runs `read` SCRAPES times after a warm-up, timing each and counting what each master got. */
async function measure(
  topology: Topology,
  read: () => Promise<unknown>,
  client?: RedisClient,
): Promise<ReadCost> {
  for (let i = 0; i < WARMUP; i++) await read();
  const writes = new Map<number, number>();
  const restore: (() => void)[] = [];
  for (const node of client ? masterNodes(client) : []) {
    const port = node.options.port!;
    const stream = node.stream;
    const write = stream.write;
    writes.set(port, 0);
    stream.write = ((...args: Parameters<typeof write>) => {
      writes.set(port, writes.get(port)! + 1);
      return write.apply(stream, args);
    }) as typeof write;
    restore.push(() => (stream.write = write));
  }
  const before = await scriptCalls(topology.masterPorts);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < SCRAPES; i++) {
      const started = performance.now();
      await read();
      latencies.push(performance.now() - started);
    }
  } finally {
    for (const undo of restore) undo();
  }
  const after = await scriptCalls(topology.masterPorts);
  return {
    latencies,
    ...(client && {
      requestsPerSample: topology.masterPorts.map((port) => (writes.get(port) ?? 0) / SCRAPES),
    }),
    // The INFO call of the first snapshot is not a script; nothing else runs on these nodes now.
    scriptsPerSample: after.map((n, i) => (n - before[i]!) / SCRAPES),
  };
}

async function exporterCosts(topology: Topology) {
  const all = [...topology.queues, topology.extra];
  const setup = createRedis(configOf(topology).redis, { role: 'worker' });
  setup.on('error', () => undefined);
  const extra = new Queue(topology.extra.name, {
    connection: setup,
    prefix: topology.extra.prefix,
  });
  await extra.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'j', data: { i } })));
  await extra.close();
  setup.disconnect();

  const config = configOf(topology, {
    QUEUE_NAME: topology.queues[0]!.name,
    QUEUES: all
      .map((q) =>
        q.prefix === topology.env.QUEUE_PREFIX ? q.name : `bullmq:${q.prefix}/${q.name}`,
      )
      .join(','),
    SAMPLE_TTL_MS: '0',
    METRICS_PORT: '0',
    KEDA_PORT: '0',
    HOST: '127.0.0.1',
  });
  const redis = createRedis(config.redis, { role: 'request' });
  redis.on('error', () => undefined);
  const sampler = new QueueSampler(
    redis,
    all.map((q) => new QueueKeys(q.prefix, q.name)),
    { ttlMs: 0 },
  );
  const exporter = await runExporter(config, createLogger(config, 'bench'));
  try {
    const sampled = await measure(topology, () => sampler.sample(), redis);
    const scraped = await measure(topology, async () => {
      const res = await fetch(`${exporter.url}/metrics`);
      if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
      const text = await res.text();
      if (!text.includes('qscale_redis_up 1')) throw new Error('a scrape could not read Redis');
    });
    return { sampled, scraped };
  } finally {
    await exporter.close();
    redis.disconnect();
  }
}

const ms = (values: number[], p: number) => percentile(values, p).toFixed(2);
const list = (values: number[] | undefined) =>
  values ? values.map((v) => (Number.isInteger(v) ? String(v) : v.toFixed(2))).join(', ') : '–';

async function main() {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  await withCleanup(async (track) => {
    const tops = await topologies(track);
    console.log(
      `pipeline: ${FILES} text files of ~30 B over 3 queues; 3 app and 3 worker processes (one of each per queue), WORKER_CONCURRENCY=${CONCURRENCY}; machine: ${cpus().length} cores`,
    );
    const results: { label: string; uploadSeconds: number; drainSeconds: number }[] = [];
    for (const topology of tops) {
      results.push({ label: topology.label, ...(await throughput(track, topology)) });
    }
    console.log('\n| Redis | upload files/s | processing files/s | end to end files/s |');
    console.log('|---|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.label} | ${(FILES / r.uploadSeconds).toFixed(0)} | ${(FILES / r.drainSeconds).toFixed(0)} | ${(FILES / (r.uploadSeconds + r.drainSeconds)).toFixed(0)} |`,
      );
    }
    const [one, cluster] = results as [(typeof results)[0], (typeof results)[0]];
    console.log(
      `\ncluster / one redis-server: upload ${(one.uploadSeconds / cluster.uploadSeconds).toFixed(2)}×, processing ${(one.drainSeconds / cluster.drainSeconds).toFixed(2)}×, end to end ${((one.uploadSeconds + one.drainSeconds) / (cluster.uploadSeconds + cluster.drainSeconds)).toFixed(2)}×`,
    );

    console.log(
      `\nexporter: 4 queues (the first and the fourth on one master), ${SCRAPES} reads each after ${WARMUP} warm-up reads; per master in slot order`,
    );
    console.log(
      '\n| Redis | read | p50 ms | p95 ms | p99 ms | requests per master per read | scripts per master per read |',
    );
    console.log('|---|---|---:|---:|---:|---|---|');
    for (const topology of tops) {
      const { sampled, scraped } = await exporterCosts(topology);
      for (const [read, cost] of [
        ['QueueSampler.sample()', sampled],
        ['GET /metrics', scraped],
      ] as const) {
        console.log(
          `| ${topology.label} | ${read} | ${ms(cost.latencies, 50)} | ${ms(cost.latencies, 95)} | ${ms(cost.latencies, 99)} | ${list(cost.requestsPerSample)} | ${list(cost.scriptsPerSample)} |`,
        );
      }
    }
  });
}

await main();
