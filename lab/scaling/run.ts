/**
 * `npm run lab:scaling [-- --quick] [-- --speed N]`: the real sidecar under ported HPA and KEDA
 * control loops, policies compared on the same traces (issue 13). `-- --sim [--quick]`: the same
 * policies and loops in virtual time instead (`sim/sim-main.ts`). The policies are defined once,
 * for both, in `policies.ts`; the results also go to `report/results.json` (`results-file.ts`).
 *
 * Real parts, each a process of its own: a redis-server, the upload API (`qscale app`), the sidecar
 * (`qscale exporter`: its /metrics and its KEDA gRPC scaler, called as KEDA calls it), and worker
 * pods that run the real `qscale worker`. Around them: the HPA (`hpa.ts`) and KEDA (`keda.ts`)
 * control loops ported from upstream, the ReplicaSet's scale-in order (`replica-set.ts`), SIGTERM
 * then SIGKILL after the grace period. Every policy's numbers come from the shipped YAML
 * (`manifests.ts`).
 *
 * Time is compressed by one factor (`--speed`, default 50) for every period, delay and job length
 * alike: the control loops run on trace time = real time × speed. Two job mixes: sleep-bound (an
 * embedding API that answers after JOB_SECONDS, a fake of the remote API) and CPU-bound (real
 * extraction of a mix of file types, local embeddings; `file-mix.ts`).
 *
 * A pod starts `--pod-start` trace seconds (default 10: image pull + container start) after it was
 * created, in a process that had loaded the worker's code in standby (`pod-entry.mjs`); the
 * worker's own start (connect, create the BullMQ worker) follows and is measured.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, type Job } from 'bullmq';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { CliProcess } from '../../harness/cli-process.js';
import { FakeEmbeddingServer } from '../../harness/fake-embedding-server.js';
import { parsePromText, sumOf } from '../../harness/prom-text.js';
import { startRedisServer } from '../../harness/redis-server.js';
import { ScalerClient } from '../../harness/scaler-client.js';
import type { KedaScalerRead } from './keda.js';
import { readShippedManifests } from './manifests.js';
import { labFile, type JobMix, type LabFile } from './file-mix.js';
import { definePolicies, type PolicyName } from './policies.js';
import type { PolicyIo } from './policy-io.js';
import type { Policy } from './policy-loops.js';
import { Deployment, StandbyPool } from './pods.js';
import { writeReport, type RunResult } from './report.js';
import { writeResultsFile } from './results-file.js';
import { SHIPPED } from './sim/sidecar-defaults.js';
import { burst, cpuBound, ramp, spikes, steady, withOutage, type Trace } from './traces.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
/**
 * Trace seconds per real second: 20. At 50 the sidecar's sample TTL and the pods' CPU on 2 cores
 * stretched further than the decisions under test (a 100 ms sample held 5 trace s, longer than the
 * rate's 3 s slices), and the quick run's 10 pods of a burst, started at once on a loaded machine,
 * could miss its whole 4.8 s window.
 */
const SPEED = Number(args[args.indexOf('--speed') + 1] ?? NaN) || 20;
/** `--only burst:fixed-max`: one trace and policy, for a closer look. */
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
/** A pod's start-up delay in trace seconds: image pull + container start. */
const POD_START_SECONDS = args.includes('--pod-start')
  ? Number(args[args.indexOf('--pod-start') + 1])
  : 10;
/** The committed report is written by a full run only; `--quick` and `--only` write elsewhere. */
const OUT = fileURLToPath(
  new URL(
    QUICK
      ? '../../test-artifacts/lab-quick/'
      : ONLY
        ? '../../test-artifacts/lab-only/'
        : './report/',
    import.meta.url,
  ),
);
/** A job's length in trace seconds (an embedding API call). */
const JOB_SECONDS = 20;
/**
 * Every policy is measured over the same window: the trace, then this long (trace seconds), so
 * that worker-seconds compare (KEDA's cooldown of 300 s and a 1-pod-a-minute scale-down fit in).
 */
const TAIL_SECONDS = QUICK ? 240 : 360;
/** The CPU-bound traces stay within what 2 cores extract (~8 such jobs a real second). */
const CPU_BURST_FILES = 24;
const CPU_STEADY_RATE = 0.08;
const UPLOADS_IN_FLIGHT = 8;
/** MAX_FILES_PER_REQUEST of the upload API (its default). */
const FILES_PER_REQUEST = 10;
const QUEUE = 'file_processing';
/** The sidecar's RATE_WINDOW_SECONDS and TARGET_WAIT_SECONDS defaults, in trace seconds. */
const RATE_WINDOW_SECONDS = SHIPPED.rateWindowSeconds;
const TARGET_WAIT_SECONDS = SHIPPED.targetWaitSeconds;
/**
 * The sidecar's SAMPLE_TTL_MS, compressed like every duration, and the workers' HEARTBEAT_SECONDS
 * (1, its least: ×SPEED in trace time; busy slots are written at each job start and end anyway),
 * real (recorded in results.json).
 */
const SAMPLE_TTL_MS = Math.max(1, Math.round(SHIPPED.sampleTtlMs / SPEED));
const HEARTBEAT_SECONDS = 1;

/** The built CLI when `npm run lab:scaling` built it, else the sources through tsx. */
const CLI_ENTRY = existsSync(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)))
  ? 'dist'
  : 'source';

/**
 * What the lab runs (servers, sidecars, pods' processes): killed when the lab exits however it
 * ends (an error, Ctrl-C, SIGTERM), so a failed run leaves nothing behind.
 */
const running = new Set<{ killNow(): void }>();
process.on('exit', () => {
  for (const part of running) part.killNow();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

/** Starts `qscale <command>` and waits until it logs a line starting with `ready`. */
async function startCli(command: string, env: NodeJS.ProcessEnv, ready: string) {
  const cli = new CliProcess([command], { ...env, LOG_LEVEL: 'info' } as never, {
    entry: CLI_ENTRY,
  });
  const part = { killNow: () => cli.kill('SIGKILL') };
  running.add(part);
  void cli.exited.then(() => running.delete(part));
  await cli.waitForLog((line) => line.msg?.startsWith(ready) === true, 60_000);
  return cli;
}

/** SIGTERM, as a rollout stops the sidecar; waits for it to exit. */
async function stopCli(cli: CliProcess): Promise<void> {
  cli.kill('SIGTERM');
  await cli.exited;
}

const EXPORTER_READY = 'KEDA external scaler listening';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const manifests = readShippedManifests();
const traceMs = (seconds: number) => (seconds * 1000) / SPEED;

interface Context {
  exporterUrl: string;
  scaler: ScalerClient;
  redis: Redis;
  deployment: Deployment;
  metrics: () => Promise<ReturnType<typeof parsePromText>>;
  /** An epoch time (ms) of this process as trace ms since the trace started. */
  traceTime: (epochMs: number) => number;
}

/** A guard against a hung call: KEDA gives up on a scaler call after its HTTP timeout (3 s). */
function withDeadline<T>(call: Promise<T>, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}

/** The sidecar's scaler, called as KEDA calls it (GetMetrics then IsActive). */
async function qscaleRead(ctx: Context, meta: Record<string, string>): Promise<KedaScalerRead> {
  try {
    const metrics = await withDeadline(ctx.scaler.getMetrics(meta));
    const active = await withDeadline(ctx.scaler.isActive(meta));
    return {
      ok: true,
      metricValue: metrics.metricValues[0]!.metricValueFloat,
      active: active.result,
    };
  } catch (error) {
    return { ok: false, failedCall: 'GetMetrics', message: (error as Error).message };
  }
}

/**
 * KEDA's `external-push`: one `StreamIsActive` kept open, reopened after a backoff of 2 s doubling
 * to 1 min, reset to 2 s when the stream ended cleanly (trace seconds).
 */
function qscalePush(ctx: Context, metadata: Record<string, string>, onTrue: () => void) {
  let stopped = false;
  let backoff = 2;
  let timer: NodeJS.Timeout | undefined;
  let stream: ReturnType<typeof ctx.scaler.client.StreamIsActive> | undefined;
  const open = () => {
    if (stopped) return;
    const current = ctx.scaler.client.StreamIsActive({
      name: 'so',
      namespace: 'lab',
      scalerMetadata: metadata,
    });
    stream = current;
    current.on('data', (m: { result: boolean }) => m.result && onTrue());
    current.on('error', () => undefined);
    // Every call ends with one status: OK for a clean end, an error code otherwise.
    current.on('status', (status: { code: number }) => {
      if (stopped) return;
      const clean = status.code === 0;
      const delay = clean ? 2 : backoff;
      backoff = clean ? 2 : Math.min(60, backoff * 2);
      timer = setTimeout(open, traceMs(delay));
    });
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    stream?.cancel();
  };
}

/** What the policies read, from the real parts. */
function labIo(ctx: Context): PolicyIo {
  return {
    replicas: () => ctx.deployment.replicas,
    pods: () =>
      ctx.deployment.live.map((pod) => ({
        name: pod.name,
        running: pod.child !== undefined,
        createdAt: ctx.traceTime(pod.createdAt),
        ...(pod.readySince && { readySince: ctx.traceTime(pod.readySince) }),
        cpuSeconds: () => pod.cpuSeconds(),
      })),
    queueLength: async () => sumOf(await ctx.metrics(), 'qscale_queue_length', { queue: QUEUE }),
    desiredWorkers: async () =>
      sumOf(await ctx.metrics(), 'qscale_queue_desired_workers', { queue: QUEUE }),
    waitListLength: () => ctx.redis.llen(`bull:${QUEUE}:wait`),
    scaler: (metadata) => qscaleRead(ctx, metadata),
    streamIsActive: (metadata, onTrue) => qscalePush(ctx, metadata, onTrue),
  };
}

function policies(): Record<PolicyName, () => Policy> {
  return definePolicies(manifests, { speed: SPEED, queue: QUEUE });
}

async function runOne(
  trace: Trace,
  name: PolicyName,
  policy: Policy,
  pool: StandbyPool,
): Promise<RunResult> {
  const mix: JobMix = trace.mix ?? 'sleep';
  const redisServer = await startRedisServer();
  running.add(redisServer);
  const embeddings = await new FakeEmbeddingServer({ delayMs: traceMs(JOB_SECONDS) }).start();
  const uploadDir = await mkdtemp(join(tmpdir(), 'qscale-lab-'));
  const env = {
    REDIS_URL: redisServer.url,
    QUEUE_NAME: QUEUE,
    UPLOAD_DIR: uploadDir,
    HOST: '127.0.0.1',
    PORT: String(await getPort({ host: '127.0.0.1' })),
    // Fixed for the run: a sidecar started again after an outage listens where it did.
    METRICS_PORT: String(await getPort({ host: '127.0.0.1' })),
    KEDA_PORT: String(await getPort({ host: '127.0.0.1' })),
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: String(manifests.workerConcurrency),
    HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
    SAMPLE_TTL_MS: String(SAMPLE_TTL_MS),
    // The sidecar's rate window and default objective (the shipped ones), on its clock.
    RATE_WINDOW_SECONDS: String(RATE_WINDOW_SECONDS / SPEED),
    TARGET_WAIT_SECONDS: String(TARGET_WAIT_SECONDS / SPEED),
    UTILIZATION_WINDOW_SECONDS: '5',
    ...(mix === 'sleep'
      ? {
          EMBEDDING_PROVIDER: 'openai',
          EMBEDDING_URL: embeddings.url,
          EMBEDDING_MODEL: 'lab',
          EMBEDDING_DIM: '8',
        }
      : { EMBEDDING_PROVIDER: 'hash' }),
    SHUTDOWN_TIMEOUT_SECONDS: String(
      Math.max(1, Math.round(manifests.shutdownTimeoutSeconds / SPEED)),
    ),
    MAX_QUEUE_BACKLOG: '100000',
  };
  const appUrl = `http://127.0.0.1:${env.PORT}`;
  const [app, firstExporter] = await Promise.all([
    startCli('app', env, 'upload API listening'),
    startCli('exporter', env, EXPORTER_READY),
  ]);
  let exporter: CliProcess | undefined = firstExporter;
  const exporterUrl = `http://127.0.0.1:${env.METRICS_PORT}`;
  // KEDA's gRPC client (grpc-go) reconnects after 1 s, ×1.6 each failure, up to 2 min: compressed.
  const scaler = new ScalerClient(`127.0.0.1:${env.KEDA_PORT}`, undefined, {
    'grpc.initial_reconnect_backoff_ms': Math.max(1, Math.round(1000 / SPEED)),
    'grpc.max_reconnect_backoff_ms': Math.round(120_000 / SPEED),
  });
  const redis = new Redis(redisServer.port, '127.0.0.1', { maxRetriesPerRequest: null });
  const deployment = new Deployment(
    { ...env, PORT: undefined, METRICS_PORT: undefined, KEDA_PORT: undefined } as never,
    traceMs(POD_START_SECONDS),
    traceMs(manifests.terminationGracePeriodSeconds),
    pool,
  );
  let latest: ReturnType<typeof parsePromText> = [];
  const busySlots = (pod: string) => sumOf(latest, 'qscale_worker_busy_slots', { worker: pod });
  // The replicas a policy runs before any load (the fixed pool, an HPA's minimum) are up and
  // ready when the trace starts, as they would be in a cluster.
  const files = trace.arrivals.map((_, i) => labFile(mix, i));
  const queue = new Queue(QUEUE, { connection: redis });
  deployment.scale(policy.initialReplicas, busySlots);
  await deployment.allReady(120_000);
  const warmups = await warmUp(appUrl, queue, policy.initialReplicas);
  deployment.changes = 0;
  const started = Date.now();
  const ctx: Context = {
    exporterUrl,
    scaler,
    redis,
    deployment,
    metrics: async () => {
      const res = await fetch(`${exporterUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
      if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
      latest = parsePromText(await res.text());
      return latest;
    },
    traceTime: (epochMs) => (epochMs - started) * SPEED,
  };
  const io = labIo(ctx);
  const timeline: RunResult['timeline'] = [];
  const now = () => ((Date.now() - started) / 1000) * SPEED;
  // Uploads on their own schedule: files arriving at the same time go in requests of up to
  // FILES_PER_REQUEST (a client sending a folder), up to UPLOADS_IN_FLIGHT requests at once.
  let uploaded = 0;
  const inFlight = new Set<Promise<void>>();
  const batches: number[][] = [];
  for (const [i, at] of trace.arrivals.entries()) {
    const last = batches[batches.length - 1];
    if (last && trace.arrivals[last[0]!] === at && last.length < FILES_PER_REQUEST) last.push(i);
    else batches.push([i]);
  }
  const uploads = (async () => {
    for (const batch of batches) {
      const wait = traceMs(trace.arrivals[batch[0]!]!) - (Date.now() - started);
      if (wait > 0) await sleep(wait);
      while (inFlight.size >= UPLOADS_IN_FLIGHT) await Promise.race(inFlight);
      const upload = postFiles(
        appUrl,
        batch.map((i) => files[i]!),
      ).then((accepted) => {
        uploaded += accepted;
      });
      const tracked = upload.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    }
    await Promise.all(inFlight);
  })();
  const scrapeMs: number[] = [];
  let outage: Promise<void> | undefined;
  let restarting: Promise<CliProcess> | undefined;
  for (;;) {
    const t = now();
    // The sidecar's outage, if the trace has one: stopped, then started again on its ports.
    // In the background: the control loops go on meanwhile, as KEDA's and the HPA's do.
    if (trace.outage && exporter && t >= trace.outage.from && t < trace.outage.to) {
      outage = stopCli(exporter);
      exporter = undefined;
    } else if (trace.outage && !exporter && !restarting && t >= trace.outage.to) {
      restarting = outage!.then(() => startCli('exporter', env, EXPORTER_READY));
      void restarting.then((started) => (exporter = started));
    }
    const scrapeStarted = Date.now();
    // What the pod-deletion-cost keeper knows: the last /metrics the sidecar served.
    await ctx.metrics().catch(() => undefined);
    scrapeMs.push(Date.now() - scrapeStarted);
    // The charts read Redis itself: they stay drawn while the sidecar is down.
    const counts = await queue.getJobCounts('wait', 'prioritized', 'active');
    const backlog = counts.wait! + counts.prioritized!;
    const active = counts.active!;
    const desired = await policy.tick(t, io);
    if (desired !== undefined) deployment.scale(desired, busySlots);
    timeline.push({ t, replicas: deployment.replicas, backlog, active });
    if (t > trace.seconds + TAIL_SECONDS) break;
    await sleep(traceMs(1));
  }
  await uploads;
  policy.close?.();
  const end = Date.now();
  const jobs = (await queue.getJobs(['completed', 'failed'], 0, -1)).filter(
    (j) => j.timestamp >= started,
  );
  const events = await redis.xrange(`bull:${QUEUE}:events`, '-', '+');
  const stalled = events.filter(([, f]) => f[1] === 'stalled').length;
  const waits = jobs
    .filter((j) => j.processedOn !== undefined)
    .map((j) => ((j.processedOn! - j.timestamp) / 1000) * SPEED)
    .sort((a, b) => a - b);
  const runs = jobs
    .filter((j) => j.processedOn !== undefined && j.finishedOn !== undefined)
    .map((j) => ((j.finishedOn! - j.processedOn!) / 1000) * SPEED)
    .sort((a, b) => a - b);
  const firstStart = Math.min(...jobs.map((j) => j.processedOn ?? Infinity));
  // From the first job enqueued (the upload API's own time is the same for every policy).
  const firstEnqueued = Math.min(...jobs.map((j) => j.timestamp));
  const lastFinish = Math.max(0, ...jobs.map((j) => j.finishedOn ?? 0));
  // Every state BullMQ has: a job in none of them is lost.
  const counts = await queue.getJobCounts();
  const unfinished = Object.entries(counts)
    .filter(([state]) => state !== 'completed' && state !== 'failed')
    .reduce((sum, [, n]) => sum + n, 0);
  if (ONLY) {
    console.log('job counts at the end', counts, 'uploaded', uploaded);
    scrapeMs.sort((x, y) => x - y);
    for (const pod of deployment.pods.slice(0, 3)) {
      console.log(
        `${pod.name}: created ${ctx.traceTime(pod.createdAt).toFixed(0)} ms, started ${pod.startedAt ? ctx.traceTime(pod.startedAt).toFixed(0) : '-'}, ready ${pod.readySince ? ctx.traceTime(pod.readySince).toFixed(0) : '-'} (trace ms)`,
      );
    }
    const podCpu = deployment.pods.reduce((sum, pod) => sum + pod.cpuSeconds(), 0);
    console.log(
      `pods' CPU ${podCpu.toFixed(1)} s for ${jobs.length} jobs; lab process CPU ${(process.cpuUsage().user / 1e6).toFixed(1)} s user`,
    );
    console.log(
      `scrape real ms: p50 ${scrapeMs[Math.floor(scrapeMs.length / 2)]} max ${scrapeMs.at(-1)} (${scrapeMs.length} ticks)`,
    );
    console.log(
      `job run trace s: p50 ${runs[Math.floor(runs.length / 2)]?.toFixed(1)} max ${runs.at(-1)?.toFixed(1)}`,
    );
    for (const p of timeline.filter((_, i) => i % 20 === 0)) {
      console.log(
        `t ${p.t.toFixed(0)} replicas ${p.replicas} backlog ${p.backlog} active ${p.active}`,
      );
    }
  }
  const completed = jobs.filter((j) => j.finishedOn && !j.failedReason).length;
  const failed = jobs.filter((j) => j.failedReason).length;
  const result: RunResult = {
    trace: trace.name,
    policy: name,
    files: trace.arrivals.length,
    uploaded,
    completed,
    failed,
    unfinished,
    // Accepted by the API but in no state at all: lost.
    lost: uploaded - ((counts.completed ?? 0) - warmups) - (counts.failed ?? 0) - unfinished,
    firstStartSeconds: Number.isFinite(firstStart)
      ? ((firstStart - firstEnqueued) / 1000) * SPEED
      : null,
    waitP50: waits[Math.floor(waits.length * 0.5)] ?? null,
    waitP95: waits[Math.min(waits.length - 1, Math.floor(waits.length * 0.95))] ?? null,
    waitMax: waits[waits.length - 1] ?? null,
    // Only when every accepted file finished within the window.
    drainSeconds: lastFinish && unfinished === 0 ? ((lastFinish - started) / 1000) * SPEED : null,
    workerSeconds: deployment.podSeconds(started, end) * SPEED,
    replicaChanges: deployment.changes,
    busyTerminated: deployment.busyTerminated,
    busyTerminatedWhileIdleKept: deployment.busyTerminatedWhileIdleKept,
    runP50: runs[Math.floor(runs.length / 2)] ?? null,
    jobRuns: jobRunsByFile(jobs, trace.arrivals.length),
    killed: deployment.pods.filter((p) => p.killed).length,
    interrupted: stalled,
    replicasAtEnd: deployment.replicas,
    timeline,
  };
  await queue.close();
  scaler.close();
  await deployment.close();
  await restarting;
  if (exporter) await stopCli(exporter);
  await stopCli(app);
  redis.disconnect();
  await embeddings.stop();
  await redisServer.stop();
  running.delete(redisServer);
  await rm(uploadDir, { recursive: true, force: true });
  return result;
}

/**
 * Replicas that run before the load have run jobs before: each slot of theirs takes a few small
 * jobs first, so their extraction threads are started as a long-running pool's are (40 threads
 * starting at once would otherwise cost the fixed pool ~4 s of CPU on 2 cores: minutes of trace
 * time). Returns how many warm-up jobs completed; they are left out of every figure.
 */
async function warmUp(appUrl: string, queue: Queue, replicas: number): Promise<number> {
  const count = replicas * manifests.workerConcurrency * 3;
  const files = Array.from({ length: count }, (_, i) => ({
    name: `warm-up-${i}.txt`,
    data: Buffer.from(`warm-up ${i}`),
  }));
  for (let i = 0; i < count; i += FILES_PER_REQUEST * 4) {
    const requests = [];
    for (let j = i; j < Math.min(count, i + FILES_PER_REQUEST * 4); j += FILES_PER_REQUEST) {
      requests.push(postFiles(appUrl, files.slice(j, Math.min(count, j + FILES_PER_REQUEST))));
    }
    const accepted = (await Promise.all(requests)).reduce((sum, n) => sum + n, 0);
    if (accepted !== Math.min(count, i + FILES_PER_REQUEST * 4) - i) {
      throw new Error('the upload API refused warm-up files');
    }
  }
  const deadline = Date.now() + 120_000;
  while ((await queue.getJobCounts('completed')).completed! < count) {
    if (Date.now() > deadline) throw new Error('the warm-up jobs did not complete in time');
    await sleep(20);
  }
  return count;
}

/**
 * How long each file's job ran (its last attempt, trace seconds), by the file's index in the trace
 * (the number in its name, `f12.txt`, `report-12.pdf`); null for a file whose job did not finish.
 * The simulator's calibration replays these lengths: the real run's CPU contention stretched some
 * jobs (the last round of a burst above all) more than its median shows.
 */
function jobRunsByFile(jobs: readonly Job[], files: number): (number | null)[] {
  const runs = new Array<number | null>(files).fill(null);
  for (const job of jobs) {
    const name = (job.data as { fileName?: unknown } | undefined)?.fileName;
    const index = typeof name === 'string' ? Number(/(\d+)\.[a-z]+$/.exec(name)?.[1]) : NaN;
    if (!Number.isInteger(index) || index < 0 || index >= files) continue;
    if (job.processedOn === undefined || job.finishedOn === undefined) continue;
    runs[index] = ((job.finishedOn - job.processedOn) / 1000) * SPEED;
  }
  return runs;
}

/** Upload requests sent again after a 503 or 429, over the whole lab run (for the report). */
let uploadRetries = 0;

/**
 * Posts files in one request, as a client would: on 503 or 429 (the API's back-pressure) it waits
 * for Retry-After (at most 1 s real) and sends again with the same Idempotency-Key, up to 10
 * times, so an upload that did happen is not made twice. Returns the files accepted.
 */
async function postFiles(appUrl: string, files: readonly LabFile[]): Promise<number> {
  const idempotencyKey = `lab-${randomUUID()}`;
  for (let attempt = 1; ; attempt++) {
    const form = new FormData();
    for (const file of files) form.append('file', new Blob([file.data]), file.name);
    const res = await fetch(`${appUrl}/api/v1/files`, {
      method: 'POST',
      body: form,
      headers: { 'Idempotency-Key': idempotencyKey },
    });
    await res.arrayBuffer();
    if (res.status === 202) return files.length;
    if ((res.status !== 503 && res.status !== 429) || attempt === 10) return 0;
    uploadRetries++;
    const retryAfter = Number(res.headers.get('retry-after') ?? 1);
    await sleep(Math.min(1000, Math.max(50, retryAfter * 1000)));
  }
}

/** Which policies run on which trace. */
function plan(): { trace: Trace; policies: PolicyName[] }[] {
  const every = Object.keys(policies()) as PolicyName[];
  if (QUICK) return [{ trace: burst(20), policies: ['keda-redis-5', 'qscale-workers-push'] }];
  // On the CPU-bound mix the modes of one scaler differ as on the sleep-bound one: the lab runs
  // the shipped defaults against the alternatives there.
  const cpuPolicies: PolicyName[] = [
    'fixed-max',
    'hpa-cpu-80',
    'hpa-external-10',
    'keda-redis-5',
    'qscale-workers',
    'qscale-workers-push',
  ];
  // The policies that read the sidecar, and KEDA's redis scaler (which does not) as the control.
  const outagePolicies: PolicyName[] = [
    'hpa-external-10',
    'keda-redis-5',
    'qscale-workers',
    'qscale-workers-push',
  ];
  return [
    ...[burst(100), steady(0.5, 240), ramp(0.75, 240), spikes(0.1, 3, 20, 240)].map((trace) => ({
      trace,
      policies: every,
    })),
    { trace: cpuBound(burst(CPU_BURST_FILES)), policies: cpuPolicies },
    { trace: cpuBound(steady(CPU_STEADY_RATE, 240)), policies: cpuPolicies },
    { trace: withOutage(steady(0.5, 240), 80, 160), policies: outagePolicies },
  ];
}

async function main(): Promise<void> {
  const all = policies();
  const runs = plan();
  const results: RunResult[] = [];
  const started = Date.now();
  const pool = new StandbyPool();
  running.add({ killNow: () => pool.killAll() });
  for (const { trace, policies: names } of runs) {
    for (const name of names) {
      if (ONLY && ONLY !== `${trace.name}:${name}`) continue;
      // Enough containers in standby for every pod a policy may start (the quick burst of 20
      // asks for 10 at once).
      await pool.fill(QUICK ? 12 : manifests.keda.maxReplicaCount + 4);
      const result = await runOne(trace, name, all[name](), pool);
      results.push(result);
      console.log(
        `${trace.name.padEnd(10)} ${name.padEnd(20)} drain ${result.drainSeconds?.toFixed(0) ?? '-'} s, worker-s ${result.workerSeconds.toFixed(0)}, p95 wait ${result.waitP95?.toFixed(1) ?? '-'} s, unfinished ${result.unfinished}, lost ${result.lost}`,
      );
    }
  }
  await pool.close();
  await mkdir(OUT, { recursive: true });
  const traces = runs.map((r) => r.trace);
  const meta = {
    speed: SPEED,
    jobSeconds: JOB_SECONDS,
    podStartSeconds: POD_START_SECONDS,
    tailSeconds: TAIL_SECONDS,
    coldStarts: pool.coldStarts,
    uploadRetries,
    manifests,
    minutes: (Date.now() - started) / 60_000,
  };
  await writeReport(OUT, results, traces, meta);
  await writeResultsFile(OUT, {
    meta: {
      ...meta,
      sidecar: {
        rateWindowSeconds: RATE_WINDOW_SECONDS / SPEED,
        targetWaitSeconds: TARGET_WAIT_SECONDS / SPEED,
        sampleTtlMs: SAMPLE_TTL_MS,
        heartbeatSeconds: HEARTBEAT_SECONDS,
      },
      uploads: { filesPerRequest: FILES_PER_REQUEST, inFlight: UPLOADS_IN_FLIGHT },
      generatedAt: new Date().toISOString(),
      cores: cpus().length,
    },
    traces,
    results,
  });
  console.log(`report: ${join(OUT, 'README.md')}`);
}

if (args.includes('--sim')) {
  // The simulator: virtual time, the same policies and loops (`sim/`); no process is started.
  const { runSimulator } = await import('./sim/sim-main.js');
  await runSimulator(args);
} else {
  await main();
}
