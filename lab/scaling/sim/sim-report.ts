/** The simulator's report: `README.md` (formatted as the repository formats markdown). */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import type { ShippedManifests } from '../manifests.js';
import type { ResultsFile } from '../results-file.js';
import type { CalibrationRow } from './calibration.js';
import { calibrationSection } from './calibration-table.js';
import { describeDelay } from './delay.js';
import type { JobTimes } from './job-times.js';
import type { Reference } from './reference.js';
import type { PlannedTrace, Section } from './sim-plan.js';
import type { SimResult } from './sim-result.js';
import { howItWorks, referenceText } from './sim-report-text.js';
import { goalsSection } from './sim-goals.js';
import { LAB_POD_START_SECONDS } from './sim-plan.js';
import { SHIPPED } from './sidecar-defaults.js';

/** One trace under one job-time distribution: every policy and the clairvoyant. */
export interface TraceOutcome {
  planned: PlannedTrace;
  jobTimes: JobTimes;
  label: string;
  results: SimResult[];
  reference: Reference;
  /** Chart files, when charted. */
  charts: string[];
}

export interface SimReportInput {
  outcomes: TraceOutcome[];
  calibration: { rows: CalibrationRow[]; file: ResultsFile; path: string } | undefined;
  manifests: ShippedManifests;
  wallSeconds: number;
  command: string;
}

const num = (v: number | null, digits = 0) => (v === null ? '–' : v.toFixed(digits));

/** Met: p95 wait within the objective, and no job left unstarted. */
export function objectiveMet(result: SimResult, objective: number): boolean {
  return result.neverStarted === 0 && result.waitP95 !== null && result.waitP95 <= objective;
}

function table(outcome: TraceOutcome): string[] {
  const { reference: ref } = outcome;
  const plan = ref.plan;
  const lines = [
    `Job times ${outcome.label}; objective: p95 wait ≤ ${ref.objectiveSeconds} s.`,
    '',
    '| policy | wait p50 / p95 / max s | objective met | drain s | worker-s | ÷ clairvoyant | changes | busy del. | … idle kept | SIGKILL | restarted | lost | unfinished | sim ms |',
    '| --- | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of outcome.results) {
    lines.push(
      `| ${r.policy} | ${num(r.waitP50, 1)} / ${num(r.waitP95, 1)} / ${num(r.waitMax, 1)} | ${objectiveMet(r, ref.objectiveSeconds) ? 'yes' : 'no'} | ${num(r.drainSeconds)} | ${r.workerSeconds.toFixed(0)} | ${(r.workerSeconds / plan.workerSeconds).toFixed(2)} | ${r.replicaChanges} | ${r.busyTerminated} | ${r.busyTerminatedWhileIdleKept} | ${r.killed} | ${r.interrupted} | ${r.lost} | ${r.unfinished} | ${r.wallMs.toFixed(0)} |`,
    );
  }
  lines.push(
    `| **clairvoyant** | ${num(plan.waitP50, 1)} / ${num(plan.waitP95, 1)} / ${num(plan.waitMax, 1)} | ${plan.waitP95 !== null && plan.waitP95 <= ref.objectiveSeconds ? 'yes' : 'no'} | ${num(plan.drainSeconds)} | ${plan.workerSeconds.toFixed(0)} | 1.00 | ${plan.pods.length} pods | 0 | 0 | 0 | 0 | 0 | 0 | |`,
    `| lower bound | | | | ${ref.lowerBound.toFixed(0)} | ${(ref.lowerBound / plan.workerSeconds).toFixed(2)} | | | | | | | | |`,
    '',
  );
  return lines;
}

/** Policy × trace: worker-seconds ÷ the clairvoyant's, ✓ when the objective was met. */
function summary(outcomes: readonly TraceOutcome[], section: Section): string[] {
  const shown = outcomes.filter(
    (o) => o.planned.section === section && o.jobTimes.kind === o.planned.charted,
  );
  if (shown.length === 0) return [];
  const policies = [...new Set(shown.flatMap((o) => o.results.map((r) => r.policy)))];
  const lines = [
    `| policy | ${shown.map((o) => o.planned.trace.name).join(' | ')} |`,
    `| --- |${shown.map(() => ' ---: |').join('')}`,
  ];
  for (const policy of policies) {
    const cells = shown.map((o) => {
      const r = o.results.find((x) => x.policy === policy);
      if (!r) return '';
      const ratio = (r.workerSeconds / o.reference.plan.workerSeconds).toFixed(2);
      return `${ratio} ${objectiveMet(r, o.reference.objectiveSeconds) ? '✓' : '✗'}`;
    });
    lines.push(`| ${policy} | ${cells.join(' | ')} |`);
  }
  lines.push(
    `| lower bound | ${shown.map((o) => (o.reference.lowerBound / o.reference.plan.workerSeconds).toFixed(2)).join(' | ')} |`,
    '',
  );
  return lines;
}

function sectionRuns(outcomes: readonly TraceOutcome[], section: Section): string[] {
  const lines: string[] = [];
  let lastTrace = '';
  for (const outcome of outcomes.filter((o) => o.planned.section === section)) {
    const { trace, conditions } = outcome.planned;
    if (trace.name !== lastTrace) {
      lastTrace = trace.name;
      lines.push(
        `### ${trace.name}: ${trace.description}`,
        '',
        `Pods start in ${describeDelay(conditions.podStart)} + ${conditions.workerStartSeconds} s; maxReplicaCount ${conditions.manifests.keda.maxReplicaCount}; measured over the trace then ${conditions.tailSeconds} s.`,
        '',
      );
    }
    lines.push(...table(outcome));
    for (const chart of outcome.charts) lines.push(`![${chart}](${chart})`, '');
  }
  return lines;
}

export async function writeSimReport(dir: string, input: SimReportInput): Promise<void> {
  const { outcomes, calibration } = input;
  const runs = outcomes.flatMap((o) => o.results);
  const times = runs.map((r) => r.wallMs).sort((a, b) => a - b);
  const lost = runs.reduce((sum, r) => sum + r.lost, 0);
  const slowest = runs.reduce<SimResult | undefined>(
    (max, r) => (!max || r.wallMs > max.wallMs ? r : max),
    undefined,
  );
  const lines = [
    '# Scaling simulator report',
    '',
    `Generated by \`${input.command}\` in ${input.wallSeconds.toFixed(1)} s on ${cpus().length} cores: ${runs.length} simulated runs (median ${num(times[Math.floor(times.length / 2)] ?? null)} ms each, slowest ${slowest ? `${slowest.wallMs.toFixed(0)} ms, ${slowest.trace} ${slowest.policy}` : '–'})${calibration ? ` and ${calibration.rows.length} calibration runs` : ''}. Jobs lost over all runs: ${lost}.`,
    '',
    "The simulator drives the sidecar's own decision code (`src/scaling`, `src/keda/trigger-metadata.ts`) through the same ported HPA, KEDA and ReplicaSet loops as the real lab (`lab/scaling/hpa*.ts`, `keda*.ts`, `replica-set.ts`), with the anchor policies defined once for both (`lab/scaling/policies.ts`), in virtual time. Outside the calibration, time is a cluster's: no compression.",
    '',
    '## Headline',
    '',
    `Worker-seconds ÷ the clairvoyant's (lognormal job times, σ = 1), ✓ when the p95 wait met the objective (${outcomes[0]?.reference.objectiveSeconds ?? 30} s) and every job started; the last row is the true lower bound ÷ the clairvoyant.`,
    '',
    ...summary(outcomes, 'lab'),
    ...summary(outcomes, 'cluster'),
    ...goalsSection(outcomes, LAB_POD_START_SECONDS),
    ...(calibration
      ? calibrationSection(calibration.rows, calibration.file, calibration.path)
      : [
          '## Calibration against the real lab',
          '',
          'No `results.json` of the real lab: skipped.',
          '',
        ]),
    "## The real lab's traces, in a cluster",
    '',
    `The real lab's traces (and Poisson arrivals) with no time compression: sleep-bound jobs (~13 ms of CPU each), CPU-bound ones (\`cpu-*\`, one core each while they run) on pods with their own cores; prometheus-adapter serves the backlog as Prometheus last scraped it (every 15 s); KEDA's push arrives 0.1 s after the queue changed; the workers' and the sidecar's settings are the shipped defaults (HEARTBEAT_SECONDS ${SHIPPED.heartbeatSeconds}, SAMPLE_TTL_MS ${SHIPPED.sampleTtlMs}, RATE_WINDOW_SECONDS ${SHIPPED.rateWindowSeconds}, TARGET_WAIT_SECONDS ${SHIPPED.targetWaitSeconds}). A \`-known\` trace is the same on a queue that ran before: the sidecar starts with its stored history (the mean job time and concurrency). Charts for the lognormal job times.`,
    '',
    ...sectionRuns(outcomes, 'lab'),
    '## Cluster scale',
    '',
    'A burst of 10 000 files from zero with maxReplicaCount 500, and a day of Poisson arrivals on a day/night curve with maxReplicaCount 100; pod start-ups drawn from a lognormal around 10 s. The charts leave out `fixed-max` (a flat line at maxReplicaCount) and `hpa-cpu-80` (one pod: sleep-bound jobs use no CPU to speak of, so its backlog grows all day and would flatten every other line).',
    '',
    ...sectionRuns(outcomes, 'cluster'),
    ...referenceText(
      outcomes.reduce(
        (n, o) =>
          n +
          o.results.filter(
            (r) =>
              objectiveMet(r, o.reference.objectiveSeconds) &&
              r.workerSeconds < o.reference.plan.workerSeconds,
          ).length,
        0,
      ),
    ),
    ...howItWorks(runs.reduce((n, r) => n + r.killed, 0)),
    'Columns: wait = enqueue to start (p50 / p95 / max); objective met = p95 within the objective and no job left unstarted; drain = to the last job finished (– when some did not finish in the window); worker-s = pod-seconds from each pod’s creation to its end, within the window (cost); ÷ clairvoyant = worker-s ÷ the clairvoyant’s; changes = replica changes (for the clairvoyant: pods it started); busy del. = pods deleted while running a job; … idle kept = of those, deleted while a ready pod with no job was kept; SIGKILL = pods killed after terminationGracePeriodSeconds (a job longer than the grace period); restarted = jobs taken back from a killed pod and run again (their wait counts to their last start, as BullMQ’s processedOn does); lost = accepted but in no state at all (must be 0); unfinished = waiting or running when the window ended; sim ms = wall-clock time of the simulation.',
    '',
  ];
  const path = join(dir, 'README.md');
  const options = (await resolveConfig(path)) ?? {};
  await writeFile(path, await format(lines.join('\n'), { ...options, parser: 'markdown' }));
}
