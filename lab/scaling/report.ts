import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { ShippedManifests } from './manifests.js';
import { lineChartSvg } from './svg-chart.js';
import type { Trace } from './traces.js';

/** One policy on one trace, all times in trace seconds. */
export interface RunResult {
  trace: string;
  policy: string;
  files: number;
  uploaded: number;
  completed: number;
  failed: number;
  /** Still waiting or running when the window ended. */
  unfinished: number;
  /** Accepted but in no state at all: must be 0. */
  lost: number;
  /** From the start of the trace to the first job started. */
  firstStartSeconds: number | null;
  waitP50: number | null;
  waitP95: number | null;
  waitMax: number | null;
  /** From the start of the trace to the last job finished; null when some did not finish. */
  drainSeconds: number | null;
  /** Pod-seconds from each pod's creation to its end (cost). */
  workerSeconds: number;
  replicaChanges: number;
  /** Pods deleted by a scale-in while they were running a job. */
  busyTerminated: number;
  /** Of those, the ones deleted while a ready pod with no job was kept. */
  busyTerminatedWhileIdleKept: number;
  /** Median time a job ran (active to finished). */
  runP50: number | null;
  /**
   * How long each file's job ran, by the file's index in the trace (null: did not finish); absent
   * in results written before the lab recorded it.
   */
  jobRuns?: (number | null)[];
  /** Pods killed with SIGKILL after the grace period. */
  killed: number;
  /** Jobs BullMQ took back from a worker that stopped renewing its lock (stalled). */
  interrupted: number;
  /** Replicas when the measurement window ended. */
  replicasAtEnd: number;
  timeline: { t: number; replicas: number; backlog: number; active: number }[];
}

export interface ReportMeta {
  speed: number;
  jobSeconds: number;
  podStartSeconds: number;
  tailSeconds: number;
  /** Pods whose container was not waiting in standby (loaded the worker's code on start). */
  coldStarts: number;
  /** Upload requests sent again after the API's 503 or 429 (with the same Idempotency-Key). */
  uploadRetries: number;
  manifests: ShippedManifests;
  minutes: number;
}

const num = (v: number | null, digits = 0) => (v === null ? '–' : v.toFixed(digits));

/** The CPU HPA's averageUtilization target, as the shipped YAML sets it. */
function cpuTarget(m: ShippedManifests): string {
  const metric = m.hpaCpu.metrics.find((x) => x.type === 'Resource');
  return metric?.type === 'Resource' ? String(metric.averageUtilization) : '?';
}

/** Keeps the points where the value changes (and the last one), for small SVGs. */
function thin(points: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const p of points) {
    const last = out[out.length - 1];
    if (!last || p[1] !== last[1]) out.push(p);
  }
  const final = points[points.length - 1];
  if (final && out[out.length - 1] !== final) out.push(final);
  return out;
}

/**
 * The issue's goals on the burst trace, with the shipped defaults (`qscale-workers` for the `keda`
 * overlay, `qscale-workers-push` for `keda-push`), against the fixed pool: achieved figures,
 * whatever they are.
 */
function goals(results: readonly RunResult[], meta: ReportMeta): string[] {
  const burst = results.filter((r) => r.trace === 'burst');
  const fixed = burst.find((r) => r.policy === 'fixed-max');
  const lost = results.reduce((sum, r) => sum + r.lost, 0);
  const lines = [
    '## Goals on the burst, with the shipped defaults',
    '',
    `Goals: first job within 1 s + the pod start-up (${meta.podStartSeconds} s) with push; 0 busy pods deleted while an idle pod was kept; drain within 1.2× the fixed pool's at ≤ 0.5× its worker-seconds; no job lost anywhere.`,
    '',
    '| policy | first s (goal ≤ ' +
      (1 + meta.podStartSeconds) +
      ' with push) | busy del. with an idle pod kept | drain ÷ fixed pool | worker-s ÷ fixed pool |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  for (const policy of ['qscale-workers', 'qscale-workers-push', 'keda-redis-5']) {
    const r = burst.find((x) => x.policy === policy);
    if (!r) continue;
    const ratio = (a: number | null | undefined, b: number | null | undefined) =>
      a && b ? `${(a / b).toFixed(2)}×` : '–';
    lines.push(
      `| ${policy} | ${num(r.firstStartSeconds, 1)} | ${r.busyTerminatedWhileIdleKept} | ${ratio(r.drainSeconds, fixed?.drainSeconds)} | ${ratio(r.workerSeconds, fixed?.workerSeconds)} |`,
    );
  }
  lines.push(
    '',
    `Jobs lost over all ${results.length} runs: ${lost}. Busy pods deleted while an idle pod was kept, all runs: ${results.reduce((sum, r) => sum + r.busyTerminatedWhileIdleKept, 0)}.`,
    '',
  );
  return lines;
}

/** Writes `README.md` (tables) and one replicas and one backlog chart per trace into `dir`. */
export async function writeReport(
  dir: string,
  results: readonly RunResult[],
  traces: readonly Trace[],
  meta: ReportMeta,
): Promise<void> {
  const m = meta.manifests;
  const lines: string[] = [
    '# Scaling lab report',
    '',
    `Generated by \`npm run lab:scaling\` in ${meta.minutes.toFixed(1)} minutes on ${cpus().length} cores. Time is compressed ${meta.speed}× for every period, delay and job alike; all figures below are in trace seconds (real seconds × ${meta.speed}).`,
    '',
    `- **Pods** are real \`qscale worker\` processes on a real Redis, fed by the real upload API and watched by the real sidecar (its \`/metrics\` and its KEDA gRPC scaler). A pod starts ${meta.podStartSeconds} s after it is created (image pull + container start, the stated figure), in a process that had loaded the worker's code in standby; the worker's own start (connect, create the BullMQ worker) follows and is measured. It is Ready when the worker logs "worker taking jobs". Scale-in: the ReplicaSet's victim order with \`controller.kubernetes.io/pod-deletion-cost\` at the busy slots the sidecar reports, SIGTERM, SIGKILL after terminationGracePeriodSeconds (${m.terminationGracePeriodSeconds} s).${meta.coldStarts ? ` ${meta.coldStarts} pods found no process in standby and loaded the code themselves.` : ''}`,
    `- **Jobs**: sleep-bound, each file's embedding call answers after ${meta.jobSeconds} s (a fake of the remote API), or CPU-bound (\`cpu-*\` traces: real extraction of PDF, DOCX, HTML, CSV and Markdown files in the worker's sandbox, local embeddings); the "job s" column is the median time a job ran. Workers run ${m.workerConcurrency} jobs at once (WORKER_CONCURRENCY of the shipped config).`,
    `- **Uploads** go through the upload API in requests of up to 10 files (those arriving together), with an Idempotency-Key; ${meta.uploadRetries} requests were sent again after a 503 or 429.`,
    `- **Window**: every policy is measured over the same window, the trace then ${meta.tailSeconds} s, so worker-seconds compare. Replicas a policy keeps before any load (the fixed pool, an HPA's minimum) are running and ready when the trace starts.`,
    '',
    'Policies (numbers read from `k8s/overlays/*` with `kubectl kustomize`):',
    '',
    "- `fixed-max`: a fixed pool at the `keda` overlay's maxReplicaCount — the reference.",
    `- \`hpa-cpu-80\`: the \`hpa-cpu\` worker HPA (CPU ${cpuTarget(m)} % of the ${m.workerCpuRequestMilli}m request, min ${m.hpaCpu.minReplicas ?? 1}, max ${m.hpaCpu.maxReplicas}).`,
    "- `hpa-external-10`: an External HPA on the backlog (`redis_queue_length`, AverageValue 10, 1–20, scale-down 1 pod a minute after 5 minutes: the `hpa-external` overlay before the wait objective), read from the exporter's `/metrics` as prometheus-adapter would serve it.",
    "- `qscale-hpa-external`: the shipped `hpa-external` overlay: the exporter's `qscale_queue_desired_workers` (the wait objective), AverageValue 1, read from `/metrics` the same way.",
    "- `keda-redis-5`: KEDA's `redis` scaler semantics (LLEN of the wait list, listLength 5, activation 0) under the `keda` overlay's ScaledObject settings.",
    "- `qscale-backlog-10`: the sidecar's `backlog` mode with targetValue 10 (the former `keda` overlay default).",
    "- `qscale-latency-30`: the sidecar's `latency` mode, `metricType: Value`, targetValue 30 s (the README's example).",
    '- `qscale-workers`: the shipped `keda` overlay (sidecar `workers` mode with the wait objective `targetWaitSeconds`, polled).',
    '- `qscale-workers-push`: the shipped `keda-push` overlay (the same with `external-push`).',
    '',
    ...goals(results, meta),
    '## What these figures are, and are not',
    '',
    `- One machine runs every pod: the pods share ${cpus().length} cores as a cluster's would not. A job's own CPU (measured alone: ~13 ms for a sleep-bound one, ~0.2 s for the CPU-bound mix, ~0.1 s more for the first job of a pod, which starts its extraction threads) is stretched ${meta.speed}× like everything else, so runs with many busy pods (the fixed pool above all) run their jobs slower than a cluster would: compare the "job s" column across rows.`,
    `- Real latencies of the real parts (measured alone) are stretched ${meta.speed}× too: a worker's own start (~0.08 s real), the push from a job enqueued to KEDA (~0.05 s), a pod's first job starting its extraction threads (~0.09 s of CPU) and the sidecar's restart (~1.5 s) weigh ${meta.speed}× more here than in a cluster, and many pods starting at once share the ${cpus().length} cores. So the loads are sized to stay within ~10 busy pods, and the figures favour policies that start fewer pods at once; the fixed pool's pods (and an HPA's minimum) are warm, having run jobs before the trace.`,
    `- The CPU-bound traces are sized for ${cpus().length} cores (a cluster would give each pod its own request): more pods cannot make them faster here, so their drain times compare decisions, not capacity.`,
    '- The pod-deletion-cost of each pod is read from the sidecar at the moment of the scale-in (the real keeper patches pods at most every POD_DELETION_COST_INTERVAL_SECONDS).',
    '- Each figure is one run on a shared machine: repeated runs differ by up to ~20 %; compare policies within a table, by the larger gaps.',
    '- The HPA, KEDA and ReplicaSet loops are ports (`lab/scaling/hpa*.ts`, `keda*.ts`, `replica-set.ts`, each tested against the upstream cases); the scaled component, the sidecar, the API and the workers are the real ones.',
    '',
    'Columns: first = from the first job enqueued to the first job started; wait = enqueue to start (p50 / p95 / max); job s = median time a job ran; drain = time to the last job finished (– when some did not finish in the window); worker-s = pod-seconds (cost); changes = replica changes; busy del. = pods deleted while running a job; SIGKILL = pods killed after the grace period; stalled = jobs taken back from a dead worker; unfinished = still waiting or running when the window ended; lost = accepted but in no state at all (must be 0); end = replicas when the window ended.',
    '',
  ];
  for (const trace of traces) {
    const rows = results.filter((r) => r.trace === trace.name);
    if (rows.length === 0) continue;
    lines.push(`## ${trace.name}: ${trace.description}`, '');
    lines.push(
      '| policy | first s | wait p50 / p95 / max s | job s | drain s | worker-s | changes | busy del. | SIGKILL | stalled | unfinished | lost | end |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of rows) {
      lines.push(
        `| ${r.policy} | ${num(r.firstStartSeconds, 1)} | ${num(r.waitP50, 1)} / ${num(r.waitP95, 1)} / ${num(r.waitMax, 1)} | ${num(r.runP50, 1)} | ${num(r.drainSeconds)} | ${r.workerSeconds.toFixed(0)} | ${r.replicaChanges} | ${r.busyTerminated} | ${r.killed} | ${r.interrupted} | ${r.unfinished} | ${r.lost} | ${r.replicasAtEnd} |`,
      );
    }
    const charts: [string, string, (p: RunResult['timeline'][number]) => number][] = [
      ['replicas', 'replicas', (p) => p.replicas],
      ['backlog', 'jobs waiting', (p) => p.backlog],
    ];
    for (const [kind, yLabel, value] of charts) {
      const file = `${trace.name}-${kind}.svg`;
      await writeFile(
        join(dir, file),
        lineChartSvg(
          rows.map((r) => ({
            name: r.policy,
            points: thin(r.timeline.map((p) => [p.t, value(p)])),
          })),
          { title: `${trace.name}: ${kind}`, yLabel },
        ),
      );
      lines.push('', `![${trace.name} ${kind}](${file})`);
    }
    lines.push('');
  }
  await writeFile(join(dir, 'README.md'), `${lines.join('\n')}\n`);
}
