/**
 * `npm run bench:autoscale`: what the local autoscaler costs and saves on a burst, side by side in
 * one run against a redis-server of its own on a free loopback port.
 *
 * A burst of BENCH_FILES small generated text files is uploaded through the upload API (an Express
 * app listening on a free port, 10 files per request, 4 requests at a time) while slow processing
 * is simulated: every job makes one embedding request to a fake OpenAI-compatible server that
 * answers BENCH_DELAY_MS late. Three set-ups, each on a queue of its own:
 * - fixed 1: one worker process, started and ready before the burst;
 * - fixed max: MAX worker processes, started and ready before the burst;
 * - autoscaler: `runAutoscaledWorkers()` with MIN_WORKERS=1, MAX_WORKERS=MAX,
 *   AUTOSCALE_INTERVAL_SECONDS=1, AUTOSCALE_STABILIZATION_SECONDS=BENCH_STABILIZATION_SECONDS,
 *   backlog mode with its default target (10 jobs per worker); its first worker ready before the
 *   burst, the others started by its decisions.
 *
 * Time to drain = from the first upload until every job has completed. Worker-seconds = the sum
 * over worker processes of the time each was alive (starting, working or idle) within a window:
 * "to drain" is the burst itself; "+ idle tail" adds BENCH_TAIL_SECONDS of quiet after the drain,
 * the same for every set-up, where fixed workers stay and the autoscaler goes back to its minimum
 * once the stabilization window has passed. Workers run the built CLI (dist/; BENCH_ENTRY=source
 * runs the sources through tsx, which starts slower), WORKER_CONCURRENCY=2.
 *
 * Options (env): BENCH_FILES (default 500), BENCH_DELAY_MS (default 75), BENCH_MAX_WORKERS
 * (default 4), BENCH_STABILIZATION_SECONDS (default 5), BENCH_TAIL_SECONDS (default 10),
 * BENCH_ENTRY (dist | source, default dist when dist/cli/main.js exists).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { LocalAutoscaler } from '../src/supervisor/local-autoscaler.js';
import { runAutoscaledWorkers } from '../src/cli/run-autoscaled-workers.js';
import type { Env } from '../src/config/load-config.js';
import { CliProcess, type LogLine } from '../harness/cli-process.js';
import { FakeEmbeddingServer } from '../harness/fake-embedding-server.js';
import type { TestRedisServer } from '../harness/redis-server.js';
import { createTestStack, type TestStack } from '../harness/stack.js';
import { envPositiveInt, sleep, withRedisServer } from './bench-utils.js';

const FILES = envPositiveInt('BENCH_FILES', 500);
const DELAY_MS = envPositiveInt('BENCH_DELAY_MS', 75);
const MAX = envPositiveInt('BENCH_MAX_WORKERS', 4);
const STABILIZATION_SECONDS = envPositiveInt('BENCH_STABILIZATION_SECONDS', 5);
const TAIL_SECONDS = envPositiveInt('BENCH_TAIL_SECONDS', 10);
const DIST_MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const ENTRY: 'dist' | 'source' =
  process.env.BENCH_ENTRY === 'source' || !existsSync(DIST_MAIN) ? 'source' : 'dist';
const FILES_PER_REQUEST = 10;
const PARALLEL_REQUESTS = 4;
const CONCURRENCY = 2;

/** One worker process and when it lived. */
interface WorkerLife {
  proc: CliProcess;
  spawnedAt: number;
  exitedAt?: number;
}

/** Every worker process the benchmark started; any left at exit are killed. */
const lives: WorkerLife[] = [];
process.on('exit', () => {
  for (const life of lives) life.proc.kill('SIGKILL');
});

interface Result {
  name: string;
  drainSeconds: number;
  workerSecondsToDrain: number;
  workerSecondsWithTail: number;
  peakWorkers: number;
  notes: string[];
}

/** Seconds worker processes were alive within [from, to] (epoch ms). */
function workerSeconds(of: WorkerLife[], from: number, to: number): number {
  let ms = 0;
  for (const life of of) {
    const start = Math.max(from, life.spawnedAt);
    const end = Math.min(to, life.exitedAt ?? to);
    if (end > start) ms += end - start;
  }
  return ms / 1000;
}

/** Most worker processes alive at once within [from, to]. */
function peakAlive(of: WorkerLife[], from: number, to: number): number {
  const events: [number, number][] = [];
  for (const life of of) {
    const start = Math.max(from, life.spawnedAt);
    const end = Math.min(to, life.exitedAt ?? to);
    if (end > start) events.push([start, 1], [end, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let alive = 0;
  let peak = 0;
  for (const [, delta] of events) peak = Math.max(peak, (alive += delta));
  return peak;
}

/** Deterministic small text files (a few hundred bytes: one chunk, one embedding request each). */
function corpus(): Buffer[] {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  return Array.from({ length: FILES }, (_, i) => {
    const words = Array.from({ length: 40 }, () => `w${Math.floor(rand() * 5000).toString(36)}`);
    return Buffer.from(`Document ${i}. ${words.join(' ')}.`);
  });
}

function listenOnFreePort(stack: TestStack): Promise<{ server: Server; url: string }> {
  return new Promise((resolve, reject) => {
    const server = stack.app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}` });
    });
    server.once('error', reject);
  });
}

async function uploadAll(url: string, files: Buffer[]): Promise<void> {
  let next = 0;
  const sender = async () => {
    while (next < files.length) {
      const from = next;
      next += FILES_PER_REQUEST;
      const form = new FormData();
      for (let i = from; i < Math.min(files.length, from + FILES_PER_REQUEST); i++) {
        form.append('file', new Blob([files[i]!]), `doc-${i}.txt`);
      }
      const res = await fetch(`${url}/api/v1/files`, { method: 'POST', body: form });
      if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_REQUESTS }, sender));
}

/** Resolves when `total` jobs are finished; throws if any failed. */
async function waitForDrain(stack: TestStack, total: number): Promise<void> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const counts = await stack.context.queue.getJobCounts('completed', 'failed');
    if ((counts.failed ?? 0) > 0) throw new Error(`${counts.failed} jobs failed`);
    if ((counts.completed ?? 0) >= total) return;
    if (Date.now() > deadline) throw new Error(`only ${counts.completed}/${total} jobs completed`);
    await sleep(50);
  }
}

/** Starts `qscale worker` processes for one set-up's queue and records their lives. */
function workerSpawner(stack: TestStack, redis: TestRedisServer, embeddingUrl: string) {
  const mine: WorkerLife[] = [];
  const env: Env = {
    REDIS_URL: redis.url,
    QUEUE_NAME: stack.config.queue.name,
    UPLOAD_DIR: stack.config.http.uploadDir,
    EMBEDDING_PROVIDER: 'openai',
    EMBEDDING_URL: embeddingUrl,
    WORKER_CONCURRENCY: String(CONCURRENCY),
    HEARTBEAT_SECONDS: '1',
    LOG_LEVEL: 'info',
  };
  const spawnWorker = (workerId: string): ChildProcess => {
    const proc = new CliProcess(['worker'], { ...env, WORKER_ID: workerId }, { entry: ENTRY });
    const life: WorkerLife = { proc, spawnedAt: Date.now() };
    void proc.exited.then(() => (life.exitedAt = Date.now()));
    mine.push(life);
    lives.push(life);
    return proc.child;
  };
  return { lives: mine, spawnWorker };
}

async function ready(life: WorkerLife): Promise<void> {
  await life.proc.waitForLog((line) => line.msg === 'worker taking jobs', 60_000);
}

async function runSetup(
  name: string,
  redis: TestRedisServer,
  embeddingUrl: string,
  files: Buffer[],
  workers: { fixed: number } | { autoscale: true },
): Promise<Result> {
  const stack = await createTestStack(
    redis,
    {
      KEEP_COMPLETED_JOBS: String(files.length),
      MIN_WORKERS: '1',
      MAX_WORKERS: String(MAX),
      AUTOSCALE_MODE: 'backlog',
      AUTOSCALE_INTERVAL_SECONDS: '1',
      AUTOSCALE_STABILIZATION_SECONDS: String(STABILIZATION_SECONDS),
      WORKER_CONCURRENCY: String(CONCURRENCY),
      HEARTBEAT_SECONDS: '1',
    },
    { worker: false },
  );
  const { server, url } = await listenOnFreePort(stack);
  const spawner = workerSpawner(stack, redis, embeddingUrl);
  const decisions: LogLine[] = [];
  let autoscaler: LocalAutoscaler | undefined;
  try {
    if ('fixed' in workers) {
      for (let i = 1; i <= workers.fixed; i++) spawner.spawnWorker(`bench-fixed-${i}`);
    } else {
      const logger = pino(
        { level: 'info', base: null },
        {
          write: (line: string) => {
            const parsed = JSON.parse(line) as LogLine;
            if (parsed.msg === 'autoscale') decisions.push(parsed);
          },
        },
      );
      autoscaler = await runAutoscaledWorkers(stack.config, logger, {
        spawnWorker: spawner.spawnWorker,
        workerIdPrefix: 'bench-auto',
      });
    }
    await Promise.all(spawner.lives.map(ready));

    const burstAt = Date.now();
    await uploadAll(url, files);
    const uploadedAt = Date.now();
    await waitForDrain(stack, files.length);
    const drainedAt = Date.now();
    await sleep(TAIL_SECONDS * 1000);
    const tailEnd = Date.now();

    const notes = [`uploads took ${((uploadedAt - burstAt) / 1000).toFixed(1)} s`];
    for (const decision of decisions) {
      const at = ((Number(decision.time) - burstAt) / 1000).toFixed(1);
      notes.push(`t=${at} s: ${decision.from} → ${decision.to} (${String(decision.reason)})`);
    }
    return {
      name,
      drainSeconds: (drainedAt - burstAt) / 1000,
      workerSecondsToDrain: workerSeconds(spawner.lives, burstAt, drainedAt),
      workerSecondsWithTail: workerSeconds(spawner.lives, burstAt, tailEnd),
      peakWorkers: peakAlive(spawner.lives, burstAt, tailEnd),
      notes,
    };
  } finally {
    await autoscaler?.close();
    for (const life of spawner.lives) life.proc.kill('SIGTERM');
    await Promise.all(spawner.lives.map((life) => life.proc.exited));
    await new Promise((resolve) => server.close(resolve));
    await stack.close();
  }
}

function ratio(value: number, base: number): string {
  return `${(value / base).toFixed(2)}×`;
}

async function main(): Promise<void> {
  const files = corpus();
  console.error(
    `bench:autoscale: ${FILES} files, embedding delay ${DELAY_MS} ms, WORKER_CONCURRENCY=${CONCURRENCY}, max ${MAX} workers, stabilization ${STABILIZATION_SECONDS} s, idle tail ${TAIL_SECONDS} s, workers from ${ENTRY}`,
  );
  const results = await withRedisServer(async (redis) => {
    const embeddings = await new FakeEmbeddingServer({ delayMs: DELAY_MS }).start();
    try {
      const out: Result[] = [];
      const setups: [string, { fixed: number } | { autoscale: true }][] = [
        ['fixed 1', { fixed: 1 }],
        [`fixed ${MAX}`, { fixed: MAX }],
        [`autoscaler (1–${MAX})`, { autoscale: true }],
      ];
      for (const [name, workers] of setups) {
        console.error(`  running ${name} …`);
        out.push(await runSetup(name, redis, embeddings.url, files, workers));
      }
      return out;
    } finally {
      await embeddings.stop();
    }
  });

  const [one, max] = results as [Result, Result, Result];
  const lines = [
    `Burst of ${FILES} files, ~${DELAY_MS} ms of embedding latency per job, WORKER_CONCURRENCY=${CONCURRENCY}; worker-seconds "+ tail" include ${TAIL_SECONDS} s of quiet after the drain.`,
    '',
    `| set-up | peak workers | time to drain | vs fixed 1 | vs fixed ${MAX} | worker-s to drain | vs fixed 1 | vs fixed ${MAX} | worker-s + ${TAIL_SECONDS} s tail | vs fixed 1 | vs fixed ${MAX} |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((r) =>
      [
        '',
        r.name,
        r.peakWorkers,
        `${r.drainSeconds.toFixed(1)} s`,
        ratio(r.drainSeconds, one.drainSeconds),
        ratio(r.drainSeconds, max.drainSeconds),
        r.workerSecondsToDrain.toFixed(1),
        ratio(r.workerSecondsToDrain, one.workerSecondsToDrain),
        ratio(r.workerSecondsToDrain, max.workerSecondsToDrain),
        r.workerSecondsWithTail.toFixed(1),
        ratio(r.workerSecondsWithTail, one.workerSecondsWithTail),
        ratio(r.workerSecondsWithTail, max.workerSecondsWithTail),
        '',
      ]
        .join(' | ')
        .trim(),
    ),
    '',
    ...results.flatMap((r) => [`${r.name}:`, ...r.notes.map((note) => `- ${note}`)]),
  ];
  console.log(lines.join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
