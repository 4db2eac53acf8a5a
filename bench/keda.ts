/**
 * `npm run bench:keda`: what KEDA's calls cost the external scaler, measured in one run against a
 * redis-server of its own on a free loopback port. Each part starts the real sidecar with
 * `runExporter()` (gRPC on a free port, SAMPLE_TTL_MS=1000, the default) and calls it over real gRPC
 * channels built from our externalscaler.proto. The callers run in the same Node process as the
 * scaler, so on a small machine they compete with it for CPU: latencies under heavy concurrency
 * are an upper bound of what a separate KEDA process would see.
 *
 * 1. GetMetrics latency, one queue of 1 000 waiting jobs. Closed loop: N callers each send
 *    GetMetrics, wait for the answer, send the next, for a fixed time after one warm-up call each.
 *    Cases: 1, 50 and 200 callers with a channel each (`grpc.use_local_subchannel_pool`, so each
 *    really has its own TCP connection, as separate KEDA operators would; the connections the
 *    scaler holds are counted from /proc/net/tcp), and 200 callers sharing ONE channel, which is
 *    what one KEDA operator does (one channel per scaler address). Latency = wall time of one
 *    call as the caller sees it.
 * 2. Redis reads under a KEDA-like load: 200 simulated ScaledObjects (trigger modes backlog,
 *    latency, workers in turn) each send GetMetrics + IsActive once per second, spread evenly over
 *    the second, for 10 s, over one shared channel; first with 1 queue, then with 5 queues (a
 *    scaler serving all 5, the ScaledObjects spread over them). The sampler's reads are counted as
 *    the `INFO commandstats` delta of EVALSHA (+ EVAL) calls / queues, since each read is one
 *    pipeline with one script per queue; all Redis commands (those the scripts run included, the
 *    INFO snapshot excluded) are counted too. Rates are per second of load. Compared with the
 *    expectation 1000 / SAMPLE_TTL_MS reads/s and with a scaler that would read Redis on every call.
 * 3. Push latency of StreamIsActive (trigger type `external-push`): one stream on an empty queue;
 *    after its initial `false`, repeatedly: wait a random 0-1000 ms (so the job lands at every
 *    phase of the watcher's 1 s blocking read), add one job, measure from just before `add()` until
 *    the stream says `true`; then `queue.drain()` and wait for `false` again. Compared with KEDA's
 *    default polling (pollingInterval 30 s: a new job is noticed after 15 s on average, 30 s at
 *    worst). What bounds it, by design of QueueWatchers: a watcher samples a queue at most once
 *    per `minIntervalMs` (250 ms), so a job added sooner after the previous sample waits for the
 *    rest of that interval; `drain()` writes no event, so `false` comes when the watcher's
 *    blocking read times out (`blockMs`, 1 s).
 *
 * Options (env): BENCH_CASE_MS (measured time per latency case, default 4000), BENCH_LOAD_SECONDS
 * (length of each load in part 2, default 10), BENCH_PUSH_ROUNDS (rounds of part 3, default 40).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { runExporter, type RunningExporter } from '../src/cli/run-exporter.js';
import type { Config } from '../src/config/config.js';
import { loadConfig } from '../src/config/load-config.js';
import { createLogger } from '../src/config/logger.js';
import { loadExternalScalerProto } from '../src/keda/external-scaler-proto.js';
import type { ExternalScalerClient } from '../src/keda/generated/externalscaler/ExternalScaler.js';
import type { TestRedisServer } from '../harness/redis-server.js';
import { ScalerClient } from '../harness/scaler-client.js';
import {
  callsDelta,
  commandStats,
  median,
  percentile,
  sleep,
  sumCalls,
  thousands,
  withRedisServer,
  envPositiveInt,
} from './bench-utils.js';

const CASE_MS = envPositiveInt('BENCH_CASE_MS', 4000);
const LOAD_SECONDS = envPositiveInt('BENCH_LOAD_SECONDS', 10);
const PUSH_ROUNDS = envPositiveInt('BENCH_PUSH_ROUNDS', 40);
const SAMPLE_TTL_MS = 1000;
const WAITING_JOBS = 1000;
const SCALED_OBJECTS = 200;
const MODES = ['backlog', 'latency', 'workers'] as const;
/** KEDA's default pollingInterval. */
const POLLING_MS = 30_000;
const PUSH_TARGET_MS = 500;
/** A stream value that takes longer than this is a failure, so the benchmark always ends. */
const STREAM_TIMEOUT_MS = 15_000;
const PREFIX = 'bull';

const logger = createLogger({ logLevel: 'silent' }, 'bench');
const proto = loadExternalScalerProto();

function queueName(label: string): string {
  return `bench_keda_${label}_${randomUUID().slice(0, 8)}`;
}

async function startScaler(server: TestRedisServer, queues: string[]): Promise<RunningExporter> {
  const config: Config = loadConfig({
    REDIS_URL: server.url,
    QUEUE_NAME: queues[0],
    QUEUES: queues.join(','),
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    KEDA_PORT: '0',
    SAMPLE_TTL_MS: String(SAMPLE_TTL_MS),
    LOG_LEVEL: 'silent',
  });
  return runExporter(config, logger);
}

async function fill(setup: Redis, name: string, count: number): Promise<void> {
  const queue = new Queue(name, { connection: setup, prefix: PREFIX });
  try {
    await queue.addBulk(Array.from({ length: count }, (_, i) => ({ name: 'noop', data: { i } })));
  } finally {
    await queue.close();
  }
}

/** A channel of its own: its own subchannel pool, hence its own TCP connection. */
function ownChannel(address: string): ExternalScalerClient {
  return new proto.externalscaler.ExternalScaler(address, credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
}

function getMetrics(client: ExternalScalerClient, metadata: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    client.GetMetrics(
      {
        scaledObjectRef: { name: 'so', namespace: 'bench', scalerMetadata: metadata },
        metricName: '',
      },
      (error: ServiceError | null) => (error ? reject(error) : resolve()),
    );
  });
}

/**
 * Established TCP connections whose local port is `port` (the server's side of each client
 * connection), from /proc/net/tcp{,6}; undefined where /proc is not available.
 */
function serverConnections(port: number): number | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  try {
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
        const [, local, , state] = line.trim().split(/\s+/);
        if (local?.endsWith(`:${hex}`) && state === '01') count++;
      }
    }
  } catch {
    return undefined;
  }
  return count;
}

/** Calls of the sampler's script (EVALSHA, or EVAL when the script was not cached yet). */
function scriptCalls(delta: Map<string, number>): number {
  return (delta.get('evalsha') ?? 0) + (delta.get('eval') ?? 0);
}

/** The INFO that took the first snapshot shows up in the second one; nothing else calls INFO. */
function withoutInfo(delta: Map<string, number>): Map<string, number> {
  const result = new Map(delta);
  const info = (result.get('info') ?? 0) - 1;
  if (info === 0) result.delete('info');
  else result.set('info', info);
  return result;
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------
// 1. GetMetrics latency

interface LatencyCase {
  callers: number;
  /** `own`: a channel per caller; `shared`: all callers on one channel. */
  channels: 'own' | 'shared';
}

interface LatencyResult {
  latencies: number[];
  errors: number;
  firstError?: string;
  reads: number;
  connections: number | undefined;
}

async function closedLoop(
  c: LatencyCase,
  port: number,
  metadata: Record<string, string>,
  stats: Redis,
): Promise<LatencyResult> {
  const address = `127.0.0.1:${port}`;
  const channels = Array.from({ length: c.channels === 'own' ? c.callers : 1 }, () =>
    ownChannel(address),
  );
  const calls = Array.from(
    { length: c.callers },
    (_, i) => () => getMetrics(channels[i % channels.length]!, metadata),
  );
  try {
    // Warm-up: every caller's channel connected and one call answered before the clock runs.
    await Promise.all(calls.map((call) => call()));
    const connections = serverConnections(port);
    const result: LatencyResult = { latencies: [], errors: 0, reads: 0, connections };
    const before = await commandStats(stats);
    const deadline = performance.now() + CASE_MS;
    await Promise.all(
      calls.map(async (call) => {
        while (performance.now() < deadline) {
          const started = performance.now();
          try {
            await call();
            result.latencies.push(performance.now() - started);
          } catch (error) {
            result.errors++;
            result.firstError ??= describeError(error);
          }
        }
      }),
    );
    const after = await commandStats(stats);
    result.reads = scriptCalls(callsDelta(before.calls, after.calls));
    return result;
  } finally {
    for (const channel of channels) channel.close();
  }
}

async function latencyPart(server: TestRedisServer, setup: Redis, stats: Redis): Promise<void> {
  const name = queueName('latency');
  await fill(setup, name, WAITING_JOBS);
  const scaler = await startScaler(server, [name]);
  const metadata = { queue: name, mode: 'backlog' };
  const cases: LatencyCase[] = [
    { callers: 1, channels: 'own' },
    { callers: 50, channels: 'own' },
    { callers: 200, channels: 'own' },
    { callers: 200, channels: 'shared' },
  ];
  try {
    console.log(
      `\n### 1. GetMetrics latency (closed loop, ${thousands(WAITING_JOBS)} waiting jobs, SAMPLE_TTL_MS=${SAMPLE_TTL_MS}, ${CASE_MS / 1000} s per case)\n`,
    );
    console.log(
      '| concurrent callers | channels | TCP connections at the scaler | calls | calls/s | median ms | p99 ms | max ms | errors | Redis reads |',
    );
    console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of cases) {
      const r = await closedLoop(c, scaler.scaler.port, metadata, stats);
      const l = r.latencies;
      const channels =
        c.channels === 'shared'
          ? 'ONE shared channel (as one KEDA operator)'
          : c.callers === 1
            ? 'its own channel'
            : 'one channel per caller (as separate operators)';
      console.log(
        `| ${c.callers} | ${channels} | ${r.connections ?? 'n/a'} | ${thousands(l.length)} | ${thousands(Math.round(l.length / (CASE_MS / 1000)))} | ${ms(median(l))} | ${ms(percentile(l, 99))} | ${ms(percentile(l, 100))} | ${r.errors} | ${r.reads} |`,
      );
      if (r.firstError) console.log(`\nfirst error: ${r.firstError}\n`);
    }
  } finally {
    await scaler.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Redis reads under 200 ScaledObjects

interface LoadResult {
  queues: number;
  calls: number;
  latencies: number[];
  errors: number;
  firstError?: string;
  delta: Map<string, number>;
}

async function load(
  server: TestRedisServer,
  setup: Redis,
  stats: Redis,
  queueCount: number,
): Promise<LoadResult> {
  const names = Array.from({ length: queueCount }, (_, i) => queueName(`load${queueCount}_${i}`));
  for (const name of names) await fill(setup, name, 100);
  const scaler = await startScaler(server, names);
  const client = new ScalerClient(`127.0.0.1:${scaler.scaler.port}`);
  const result: LoadResult = {
    queues: queueCount,
    calls: 0,
    latencies: [],
    errors: 0,
    delta: new Map(),
  };
  const timed = async (call: () => Promise<unknown>) => {
    const started = performance.now();
    try {
      await call();
      result.latencies.push(performance.now() - started);
    } catch (error) {
      result.errors++;
      result.firstError ??= describeError(error);
    }
  };
  try {
    const objects = Array.from({ length: SCALED_OBJECTS }, (_, i) => ({
      queue: names[i % queueCount]!,
      mode: MODES[i % MODES.length]!,
    }));
    // Warm-up (channel connected, script loaded), then let the warm-up's sample expire.
    await Promise.all(objects.map((metadata) => client.getMetrics(metadata)));
    await sleep(SAMPLE_TTL_MS + 50);
    const before = await commandStats(stats);
    const start = performance.now() + 20;
    const spacing = 1000 / SCALED_OBJECTS;
    const pending: Promise<void>[] = [];
    await Promise.all(
      objects.map(async (metadata, i) => {
        for (let second = 0; second < LOAD_SECONDS; second++) {
          const at = start + second * 1000 + i * spacing;
          const wait = at - performance.now();
          if (wait > 0) await sleep(wait);
          result.calls += 2;
          pending.push(
            timed(() => client.getMetrics(metadata)),
            timed(() => client.isActive(metadata)),
          );
        }
      }),
    );
    await Promise.all(pending);
    const after = await commandStats(stats);
    result.delta = withoutInfo(callsDelta(before.calls, after.calls));
    return result;
  } finally {
    client.close();
    await scaler.close();
  }
}

async function loadPart(server: TestRedisServer, setup: Redis, stats: Redis): Promise<void> {
  const results: LoadResult[] = [];
  for (const queues of [1, 5]) results.push(await load(server, setup, stats, queues));
  const expected = 1000 / SAMPLE_TTL_MS;
  console.log(
    `\n### 2. Redis reads while ${SCALED_OBJECTS} ScaledObjects each call GetMetrics + IsActive once per second (${LOAD_SECONDS} s, one shared channel, SAMPLE_TTL_MS=${SAMPLE_TTL_MS})\n`,
  );
  console.log(
    '| queues | gRPC calls/s | call median ms | call p99 ms | errors | sampler reads/s (measured) | expected reads/s (1000 / SAMPLE_TTL_MS) | EVALSHA/s | Redis commands/s (incl. inside scripts) | reads/s if every call read Redis | that ÷ measured reads/s | commands/s if every call read Redis | that ÷ measured commands/s |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const scripts = scriptCalls(r.delta);
    const readsPerSecond = scripts / r.queues / LOAD_SECONDS;
    const callsPerSecond = r.calls / LOAD_SECONDS;
    const commandsPerSecond = sumCalls(r.delta) / LOAD_SECONDS;
    // A per-call read runs one script, for the queue the call asks about.
    const uncachedCommands = callsPerSecond * (sumCalls(r.delta) / Math.max(1, scripts));
    console.log(
      `| ${r.queues} | ${thousands(Math.round(callsPerSecond))} | ${ms(median(r.latencies))} | ${ms(percentile(r.latencies, 99))} | ${r.errors} | ${readsPerSecond.toFixed(2)} | ${expected.toFixed(2)} | ${(scripts / LOAD_SECONDS).toFixed(2)} | ${commandsPerSecond.toFixed(1)} | ${thousands(Math.round(callsPerSecond))} | ${(callsPerSecond / readsPerSecond).toFixed(0)}× | ${thousands(Math.round(uncachedCommands))} | ${(uncachedCommands / commandsPerSecond).toFixed(0)}× |`,
    );
  }
  console.log('\nRedis commands during each load, by command (INFO commandstats):');
  for (const r of results) {
    const scripts = scriptCalls(r.delta);
    const commands = [...r.delta]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([name, n]) => `${name} ${thousands(n)}`)
      .join(', ');
    console.log(
      `- ${r.queues} queue${r.queues === 1 ? '' : 's'}: ${commands} (${(sumCalls(r.delta) / Math.max(1, scripts)).toFixed(1)} commands per queue script)`,
    );
    if (r.firstError) console.log(`  first error: ${r.firstError}`);
  }
  console.log(
    '\n"if every call read Redis": a scaler without the shared sample would read Redis once per call, with one script for the queue the call asks about: calls/s reads, each costing the commands of one queue script. A shared read covers every served queue, so with several queues the saving in commands is smaller than in reads.',
  );
}

// ---------------------------------------------------------------------------------------------
// 3. StreamIsActive push latency

/** Values of an IsActive stream, awaited one change at a time. */
class StreamWatch {
  private values: { result: boolean; at: number }[] = [];
  private waiter?: { result: boolean; resolve: (at: number) => void; reject: (e: Error) => void };
  private failure?: Error;

  constructor(stream: NodeJS.EventEmitter) {
    stream.on('data', (value: { result: boolean }) => {
      this.values.push({ result: value.result, at: performance.now() });
      this.settle();
    });
    stream.on('error', (error: Error) => {
      this.failure = error;
      this.settle();
    });
    stream.on('end', () => {
      this.failure ??= new Error('the stream ended');
      this.settle();
    });
  }

  /** Resolves with the time the next value equal to `result` arrived; other values are dropped. */
  next(result: boolean, timeoutMs = STREAM_TIMEOUT_MS): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`StreamIsActive did not say ${result} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        result,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.settle();
    });
  }

  private settle(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    while (this.values.length > 0) {
      const value = this.values.shift()!;
      if (value.result === waiter.result) {
        this.waiter = undefined;
        waiter.resolve(value.at);
        return;
      }
    }
    if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    }
  }
}

async function pushPart(server: TestRedisServer, setup: Redis): Promise<void> {
  const name = queueName('push');
  const scaler = await startScaler(server, [name]);
  const client = new ScalerClient(`127.0.0.1:${scaler.scaler.port}`);
  const queue = new Queue(name, { connection: setup, prefix: PREFIX });
  const stream = client.client.StreamIsActive({
    name: 'so',
    namespace: 'bench',
    scalerMetadata: { queue: name },
  });
  let cancelled = false;
  const watch = new StreamWatch(stream);
  stream.on('error', (error: Error) => {
    if (!cancelled) console.error(`StreamIsActive failed: ${error.message}`);
  });
  const toTrue: number[] = [];
  const toFalse: number[] = [];
  try {
    await queue.waitUntilReady();
    await watch.next(false);
    for (let round = 0; round < PUSH_ROUNDS; round++) {
      await sleep(Math.random() * 1000);
      const added = performance.now();
      await queue.add('noop', { round });
      toTrue.push((await watch.next(true)) - added);
      const drained = performance.now();
      await queue.drain();
      toFalse.push((await watch.next(false)) - drained);
    }
  } finally {
    cancelled = true;
    stream.cancel();
    client.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await scaler.close();
  }

  console.log(
    `\n### 3. StreamIsActive push latency (${PUSH_ROUNDS} rounds, random 0-1000 ms pause before each add)\n`,
  );
  console.log(
    '| transition | rounds | min ms | median ms | p90 ms | p99 ms | max ms | rounds over 10 ms |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [label, values] of [
    ['job added → stream says true (push latency)', toTrue],
    ['queue drained → stream says false', toFalse],
  ] as const) {
    console.log(
      `| ${label} | ${values.length} | ${ms(percentile(values, 0))} | ${ms(median(values))} | ${ms(percentile(values, 90))} | ${ms(percentile(values, 99))} | ${ms(percentile(values, 100))} | ${values.filter((v) => v > 10).length} |`,
    );
  }
  const med = median(toTrue);
  const p99 = percentile(toTrue, 99);
  const average = POLLING_MS / 2;
  console.log(
    `\npush latency median ${ms(med)} ms vs ${thousands(average)} ms average for ${POLLING_MS / 1000} s polling: ${(average / med).toFixed(0)}× faster`,
  );
  console.log(
    `push latency p99 ${ms(p99)} ms vs ${thousands(POLLING_MS)} ms worst case for ${POLLING_MS / 1000} s polling: ${(POLLING_MS / p99).toFixed(0)}× faster`,
  );
  console.log(
    `target: median < ${PUSH_TARGET_MS} ms: ${med < PUSH_TARGET_MS ? 'met' : 'MISSED'} (${ms(med)} ms)`,
  );
}

// ---------------------------------------------------------------------------------------------

async function run(server: TestRedisServer): Promise<void> {
  const setup = server.client();
  const stats = server.client();
  try {
    await Promise.all([setup.ping(), stats.ping()]);
    const version = (await stats.info('server')).match(/redis_version:(\S+)/)?.[1];
    console.log(
      `redis-server ${version} on 127.0.0.1:${server.port} (the benchmark's own); Node ${process.version}, ${availableParallelism()} CPUs; scaler and callers in one process`,
    );
    await latencyPart(server, setup, stats);
    await loadPart(server, setup, stats);
    await pushPart(server, setup);
  } finally {
    setup.disconnect();
    stats.disconnect();
  }
}

await withRedisServer(run);
