/**
 * `npm run lab:scaling [-- --quick] [-- --speed N]`: the real sidecar under ported HPA and KEDA
 * control loops, policies compared on the same traces (issue 13).
 *
 * Real parts: a redis-server of its own, the upload API (in process), the sidecar (in process: its
 * /metrics and its KEDA gRPC scaler, called as KEDA calls it), and worker pods that are real
 * `qscale worker` processes. Around them: the HPA (`hpa.ts`) and KEDA (`keda.ts`) control loops
 * ported from upstream, the ReplicaSet's scale-in order (`replica-set.ts`), SIGTERM then SIGKILL
 * after the grace period. Every policy's numbers come from the shipped YAML (`manifests.ts`).
 *
 * Time is compressed by one factor (`--speed`, default 40) for every period, delay and job length
 * alike: the control loops run on trace time = real time × speed. Jobs are sleep-bound (an
 * embedding API that answers after JOB_SECONDS, a fake of the remote API); the CPU-bound mix is
 * not run yet (see the report).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { runApp } from '../../src/cli/run-app.js';
import { runExporter } from '../../src/cli/run-exporter.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/config/logger.js';
import { FakeEmbeddingServer } from '../../test/helpers/fake-embedding-server.js';
import { parsePromText, sumOf } from '../../test/helpers/prom-text.js';
import { startRedisServer } from '../../test/helpers/redis-server.js';
import { ScalerClient } from '../../test/helpers/scaler-client.js';
import { HpaController, type HpaPod, type HpaSpec } from './hpa.js';
import { KedaScaledObjectLoop, type KedaScalerRead } from './keda.js';
import { readShippedManifests, type ScaledObjectManifest } from './manifests.js';
import { Deployment } from './pods.js';
import { writeReport, type RunResult } from './report.js';
import { burst, ramp, spikes, steady, type Trace } from './traces.js';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const SPEED = Number(args[args.indexOf('--speed') + 1] ?? NaN) || 40;
/** `--only burst:fixed-max`: one trace and policy, for a closer look. */
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const OUT = fileURLToPath(
  new URL(QUICK ? '../../test-artifacts/lab-quick/' : './report/', import.meta.url),
);
/** A job's length in trace seconds (an embedding API call). */
const JOB_SECONDS = 6;
/**
 * Every policy is measured over the same window: the trace, then this long (trace seconds), so
 * that worker-seconds compare (KEDA's cooldown of 300 s and a 1-pod-a-minute scale-down fit in).
 */
const TAIL_SECONDS = QUICK ? 120 : 600;
const SYNC_SECONDS = 15;
const QUEUE = 'file_processing';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const manifests = readShippedManifests();
const traceMs = (seconds: number) => (seconds * 1000) / SPEED;

type PolicyName =
  | 'fixed-max'
  | 'hpa-cpu-80'
  | 'hpa-external-10'
  | 'keda-redis-5'
  | 'qscale-backlog-10'
  | 'qscale-workers'
  | 'qscale-workers-push';

interface Context {
  exporterUrl: string;
  scaler: ScalerClient;
  redis: Redis;
  deployment: Deployment;
  metrics: () => Promise<ReturnType<typeof parsePromText>>;
}

/** What a policy does at each tick of trace time (seconds). */
interface Policy {
  initialReplicas: number;
  tick(now: number, ctx: Context): Promise<number | undefined>;
  close?(): void;
}

function hpaPods(deployment: Deployment): HpaPod[] {
  return deployment.live.map((pod) => ({
    name: pod.name,
    phase: pod.child ? 'Running' : 'Pending',
    ...(pod.readySince && {
      ready: { status: 'True' as const, lastTransitionTime: pod.readySince * SPEED },
    }),
    ...(pod.child && { startTime: pod.createdAt * SPEED }),
    requestsMilli: { cpu: manifests.workerCpuRequestMilli },
  }));
}

/** An HPA on its own (min ≥ 1): CPU utilization or an External metric. */
function hpaPolicy(
  spec: HpaSpec,
  read: (ctx: Context, now: number) => Promise<HpaReadings>,
): Policy {
  const hpa = new HpaController(spec);
  let nextSync = 0;
  return {
    initialReplicas: spec.minReplicas ?? 1,
    async tick(now, ctx) {
      if (now < nextSync) return undefined;
      nextSync = now + SYNC_SECONDS;
      const readings = await read(ctx, now);
      const decision = hpa.reconcile(now * 1000, {
        specReplicas: ctx.deployment.replicas,
        pods: hpaPods(ctx.deployment),
        ...readings,
      });
      return decision.desiredReplicas;
    },
  };
}

type HpaReadings = Pick<
  Parameters<HpaController['reconcile']>[1],
  'resourceMetrics' | 'externalMetrics'
>;

/** Per-pod CPU (milli-CPU) over the last minute of trace time, as metrics-server reports it. */
function cpuReader(): (ctx: Context, now: number) => Promise<HpaReadings> {
  const history = new Map<string, { at: number; cpu: number }[]>();
  return async (ctx, now) => {
    const cpu: Record<string, { value: number; timestamp: number; windowMs: number }> = {};
    for (const pod of ctx.deployment.live) {
      if (!pod.child) continue;
      const points = history.get(pod.name) ?? [];
      points.push({ at: now, cpu: pod.cpuSeconds() });
      while (points.length > 2 && points[1]!.at <= now - 60) points.shift();
      history.set(pod.name, points);
      const first = points[0]!;
      const span = (now - first.at) / SPEED; // real seconds
      if (span <= 0) continue;
      cpu[pod.name] = {
        value: ((points[points.length - 1]!.cpu - first.cpu) / span) * 1000,
        timestamp: now * 1000,
        windowMs: 60_000,
      };
    }
    return { resourceMetrics: { cpu } };
  };
}

/** KEDA's ScaledObject loop plus the HPA it creates, on one trigger. */
function kedaPolicy(
  so: ScaledObjectManifest,
  read: (ctx: Context) => Promise<KedaScalerRead>,
  push?: (ctx: Context, onTrue: () => void) => () => void,
): Policy {
  const loop = new KedaScaledObjectLoop(so.options, 0);
  const hpa = new HpaController({
    minReplicas: Math.max(1, so.minReplicaCount),
    maxReplicas: so.maxReplicaCount,
    metrics: [
      {
        type: 'External',
        name: 's0-qscale',
        target: { type: 'AverageValue', averageValue: Number(so.metadata.targetValue ?? 1) * 1000 },
      },
    ],
    ...(so.behavior && { behavior: so.behavior }),
  });
  let nextSync = 0;
  let pushed = false;
  let stopPush: (() => void) | undefined;
  return {
    initialReplicas: so.minReplicaCount,
    async tick(now, ctx) {
      if (push && !stopPush) stopPush = push(ctx, () => (pushed = true));
      const target = { replicas: ctx.deployment.replicas };
      let replicas: number | undefined;
      if (pushed) {
        pushed = false;
        const outcome = loop.push(now, 'qscale', true, target);
        if (!outcome.ignored && outcome.action.kind === 'set') replicas = outcome.action.replicas;
      }
      if (loop.isPollDue(now)) {
        const reading = await read(ctx);
        const outcome = loop.poll(now, { replicas: replicas ?? target.replicas }, () => reading);
        if (outcome.action.kind === 'set') replicas = outcome.action.replicas;
      }
      const current = replicas ?? target.replicas;
      if (current >= 1 && now >= nextSync) {
        nextSync = now + SYNC_SECONDS;
        const reading = await read(ctx);
        const metric = loop.hpaMetric(now, 'qscale', { replicas: current }, () => reading);
        if (metric.ok) {
          const decision = hpa.reconcile(now * 1000, {
            specReplicas: current,
            pods: hpaPods(ctx.deployment),
            externalMetrics: { 's0-qscale': [metric.value * 1000] },
          });
          replicas = decision.desiredReplicas;
        }
      }
      return replicas;
    },
    close: () => stopPush?.(),
  };
}

/** The sidecar's scaler, called as KEDA calls it (GetMetrics then IsActive). */
function qscaleReader(metadata: Record<string, string>) {
  const meta = {
    ...metadata,
    queue: QUEUE,
    ...(metadata.drainSeconds && { drainSeconds: String(Number(metadata.drainSeconds) / SPEED) }),
  };
  return async (ctx: Context): Promise<KedaScalerRead> => {
    try {
      const metrics = await ctx.scaler.getMetrics(meta);
      const active = await ctx.scaler.isActive(meta);
      return {
        ok: true,
        metricValue: metrics.metricValues[0]!.metricValueFloat,
        active: active.result,
      };
    } catch (error) {
      return { ok: false, failedCall: 'GetMetrics', message: (error as Error).message };
    }
  };
}

function qscalePush(metadata: Record<string, string>) {
  return (ctx: Context, onTrue: () => void) => {
    const stream = ctx.scaler.client.StreamIsActive({
      name: 'so',
      namespace: 'lab',
      scalerMetadata: { ...metadata, queue: QUEUE },
    });
    stream.on('data', (m: { result: boolean }) => m.result && onTrue());
    stream.on('error', () => undefined);
    return () => stream.cancel();
  };
}

function policies(): Record<PolicyName, () => Policy> {
  const keda = manifests.keda;
  return {
    'fixed-max': () => ({
      initialReplicas: keda.maxReplicaCount,
      tick: async () => undefined,
    }),
    'hpa-cpu-80': () => hpaPolicy(manifests.hpaCpu, cpuReader()),
    'hpa-external-10': () =>
      hpaPolicy(manifests.hpaExternal, async (ctx) => ({
        externalMetrics: {
          [manifests.hpaExternal.metricName]: [
            sumOf(await ctx.metrics(), 'qscale_queue_length', { queue: QUEUE }) * 1000,
          ],
        },
      })),
    // KEDA's redis scaler: LLEN of the wait list, listLength 5 (its default), activation 0.
    'keda-redis-5': () =>
      kedaPolicy(
        { ...keda, metadata: { targetValue: '5' }, options: { ...keda.options } },
        async (ctx) => {
          const length = await ctx.redis.llen(`bull:${QUEUE}:wait`);
          return { ok: true, metricValue: length, active: length > 0 };
        },
      ),
    // The former `keda` overlay default.
    'qscale-backlog-10': () => {
      const metadata = { ...keda.metadata, mode: 'backlog', targetValue: '10' };
      return kedaPolicy({ ...keda, metadata }, qscaleReader(metadata));
    },
    'qscale-workers': () => kedaPolicy(keda, qscaleReader(keda.metadata)),
    'qscale-workers-push': () =>
      kedaPolicy(
        manifests.kedaPush,
        qscaleReader(manifests.kedaPush.metadata),
        qscalePush(manifests.kedaPush.metadata),
      ),
  };
}

async function runOne(trace: Trace, name: PolicyName, policy: Policy): Promise<RunResult> {
  const redisServer = await startRedisServer();
  const embeddings = await new FakeEmbeddingServer({ delayMs: traceMs(JOB_SECONDS) }).start();
  const uploadDir = await mkdtemp(join(tmpdir(), 'qscale-lab-'));
  const env = {
    REDIS_URL: redisServer.url,
    QUEUE_NAME: QUEUE,
    UPLOAD_DIR: uploadDir,
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    KEDA_PORT: '0',
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: String(manifests.workerConcurrency),
    HEARTBEAT_SECONDS: '1',
    SAMPLE_TTL_MS: '100',
    RATE_WINDOW_SECONDS: '5',
    UTILIZATION_WINDOW_SECONDS: '5',
    EMBEDDING_PROVIDER: 'openai',
    EMBEDDING_URL: embeddings.url,
    EMBEDDING_MODEL: 'lab',
    EMBEDDING_DIM: '8',
    SHUTDOWN_TIMEOUT_SECONDS: String(
      Math.max(1, Math.round(manifests.shutdownTimeoutSeconds / SPEED)),
    ),
    MAX_QUEUE_BACKLOG: '100000',
  };
  const config = loadConfig(env);
  const logger = createLogger(config, 'lab');
  const app = await runApp(config, logger);
  const exporter = await runExporter(config, logger);
  const scaler = new ScalerClient(`127.0.0.1:${exporter.scaler.port}`);
  const redis = new Redis(redisServer.port, '127.0.0.1', { maxRetriesPerRequest: null });
  const deployment = new Deployment(
    { ...env, PORT: undefined, METRICS_PORT: undefined, KEDA_PORT: undefined } as never,
    0,
    traceMs(manifests.terminationGracePeriodSeconds),
  );
  let latest: ReturnType<typeof parsePromText> = [];
  const ctx: Context = {
    exporterUrl: exporter.url,
    scaler,
    redis,
    deployment,
    metrics: async () => {
      latest = parsePromText(await (await fetch(`${exporter.url}/metrics`)).text());
      return latest;
    },
  };
  const busySlots = (pod: string) => sumOf(latest, 'qscale_worker_busy_slots', { worker: pod });
  const timeline: RunResult['timeline'] = [];
  const started = Date.now();
  const now = () => ((Date.now() - started) / 1000) * SPEED;
  deployment.scale(policy.initialReplicas, busySlots);
  // Uploads on their own schedule.
  let uploaded = 0;
  const uploads = (async () => {
    for (const at of trace.arrivals) {
      const wait = traceMs(at) - (Date.now() - started);
      if (wait > 0) await sleep(wait);
      const form = new FormData();
      form.append('file', new Blob([`lab file ${uploaded}: words to embed`]), `f${uploaded}.txt`);
      const res = await fetch(`${app.url}/api/v1/files`, { method: 'POST', body: form });
      if (res.status === 202) uploaded++;
    }
  })();
  const queue = new Queue(QUEUE, { connection: redis });
  for (;;) {
    const t = now();
    const samples = await ctx.metrics();
    const backlog = sumOf(samples, 'qscale_queue_length', { queue: QUEUE });
    const active = sumOf(samples, 'qscale_queue_jobs', { queue: QUEUE, state: 'active' });
    const desired = await policy.tick(t, ctx);
    if (desired !== undefined) deployment.scale(desired, busySlots);
    timeline.push({ t, replicas: deployment.replicas, backlog, active });
    if (t > trace.seconds + TAIL_SECONDS) break;
    await sleep(traceMs(1));
  }
  await uploads;
  policy.close?.();
  const end = Date.now();
  const jobs = await queue.getJobs(['completed', 'failed'], 0, -1);
  const events = await redis.xrange(`bull:${QUEUE}:events`, '-', '+');
  const stalled = events.filter(([, f]) => f[1] === 'stalled').length;
  const waits = jobs
    .filter((j) => j.processedOn !== undefined)
    .map((j) => ((j.processedOn! - j.timestamp) / 1000) * SPEED)
    .sort((a, b) => a - b);
  const firstStart = Math.min(...jobs.map((j) => j.processedOn ?? Infinity));
  const lastFinish = Math.max(0, ...jobs.map((j) => j.finishedOn ?? 0));
  // Every state BullMQ has: a job in none of them is lost.
  const counts = await queue.getJobCounts();
  const unfinished = Object.entries(counts)
    .filter(([state]) => state !== 'completed' && state !== 'failed')
    .reduce((sum, [, n]) => sum + n, 0);
  if (ONLY) console.log('job counts at the end', counts, 'uploaded', uploaded);
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
    lost: uploaded - (counts.completed ?? 0) - (counts.failed ?? 0) - unfinished,
    firstStartSeconds: Number.isFinite(firstStart) ? ((firstStart - started) / 1000) * SPEED : null,
    waitP50: waits[Math.floor(waits.length * 0.5)] ?? null,
    waitP95: waits[Math.min(waits.length - 1, Math.floor(waits.length * 0.95))] ?? null,
    waitMax: waits[waits.length - 1] ?? null,
    // Only when every accepted file finished within the window.
    drainSeconds: lastFinish && unfinished === 0 ? ((lastFinish - started) / 1000) * SPEED : null,
    workerSeconds: deployment.podSeconds(end) * SPEED,
    replicaChanges: deployment.changes,
    busyTerminated: deployment.busyTerminated,
    killed: deployment.pods.filter((p) => p.killed).length,
    interrupted: stalled,
    replicasAtEnd: deployment.replicas,
    timeline,
  };
  await queue.close();
  scaler.close();
  await deployment.close();
  await exporter.close();
  await app.close();
  redis.disconnect();
  await embeddings.stop();
  await redisServer.stop();
  await rm(uploadDir, { recursive: true, force: true });
  return result;
}

async function main(): Promise<void> {
  const traces: Trace[] = QUICK
    ? [burst(20)]
    : [burst(200), steady(1, 300), ramp(2, 300), spikes(0.2, 3, 40, 300)];
  const all = policies();
  const names: PolicyName[] = QUICK
    ? ['keda-redis-5', 'qscale-workers-push']
    : (Object.keys(all) as PolicyName[]);
  const results: RunResult[] = [];
  const started = Date.now();
  for (const trace of traces) {
    for (const name of names) {
      if (ONLY && ONLY !== `${trace.name}:${name}`) continue;
      const result = await runOne(trace, name, all[name]());
      results.push(result);
      console.log(
        `${trace.name.padEnd(7)} ${name.padEnd(20)} drain ${result.drainSeconds?.toFixed(0) ?? '-'} s, worker-s ${result.workerSeconds.toFixed(0)}, p95 wait ${result.waitP95?.toFixed(1) ?? '-'} s, unfinished ${result.unfinished}, lost ${result.lost}`,
      );
    }
  }
  await mkdir(OUT, { recursive: true });
  await writeReport(OUT, results, traces, {
    speed: SPEED,
    jobSeconds: JOB_SECONDS,
    manifests,
    minutes: (Date.now() - started) / 60_000,
  });
  console.log(`report: ${join(OUT, 'README.md')}`);
}

await main();
