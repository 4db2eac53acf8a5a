/** The calibration section of the simulator's report: real against simulated, per run. */
import type { ResultsFile } from '../results-file.js';
import {
  CALIBRATED_FIGURES,
  CALIBRATION_SLACK_SECONDS,
  CALIBRATION_TOLERANCE,
  type CalibrationRow,
  type Comparison,
} from './calibration.js';
import { LAB_LATENCIES } from './sim-presets.js';

const value = (v: number | null, digits: number) => (v === null ? '–' : v.toFixed(digits));

function cell(c: Comparison, digits: number): string {
  const ratio = c.ratio === null ? '' : ` (${c.ratio.toFixed(2)})`;
  return `${value(c.real, digits)} / ${value(c.sim, digits)}${ratio}${c.agrees ? '' : ' ⚠'}`;
}

/** How many figures agree, of how many. */
export function agreement(rows: readonly CalibrationRow[]): { agree: number; total: number } {
  const all = rows.flatMap((row) => CALIBRATED_FIGURES.map((figure) => row.figures[figure]));
  return { agree: all.filter((c) => c.agrees).length, total: all.length };
}

/** A trace-seconds figure as read: 1.7999999999999998 → 1.8. */
const round = (value: number) => Number(value.toFixed(2));

export function calibrationSection(
  rows: readonly CalibrationRow[],
  file: ResultsFile,
  path: string,
): string[] {
  const { meta } = file;
  const speed = meta.speed;
  const { agree, total } = agreement(rows);
  const lines = [
    '## Calibration against the real lab',
    '',
    `Every run of \`${path}\` (${meta.source ?? `the real lab's run of ${meta.generatedAt}`}) simulated again under the real lab's conditions and compared: **${agree} of ${total} figures agree within ±${CALIBRATION_TOLERANCE * 100} %** (or within ${CALIBRATION_SLACK_SECONDS} trace s, one or two ticks of the real lab's loop); ⚠ marks the others. Cells: real / simulated (simulated ÷ real).`,
    '',
    ...(meta.source
      ? [
          'The simulator runs the decision code of this checkout: where the real run was made with another (see where its figures came from, above), the `qscale-*` rows compare two decisions as much as the model, and agree only once the real lab is run again.',
          '',
        ]
      : []),
    "The real lab's conditions, as modelled:",
    '',
    `- Its clock: the sidecar and the pods run ${speed}× slower than trace time, so the simulated sidecar gets the real lab's settings on its clock (RATE_WINDOW_SECONDS ${meta.sidecar.rateWindowSeconds}, SAMPLE_TTL_MS ${meta.sidecar.sampleTtlMs}, HEARTBEAT_SECONDS ${meta.sidecar.heartbeatSeconds}, every duration of the trigger metadata ÷ ${speed}).`,
    file.results.some((r) => r.jobRuns)
      ? `- **Job lengths: each job runs as long as it ran in the real run** (\`jobRuns\` of results.json; a job that did not finish there runs the run's median, the "job s" column): the ${meta.cores ?? 2} shared cores stretched jobs unevenly, most in the last round of a burst, when many pods ran at once. The workload is replayed; what the simulator reproduces is the decisions and the control loops.`
      : `- **Job length: each real run's median job time (\`runP50\`, the "job s" column of the real report) is the length of every job of that run**: many pods sharing the lab's ${meta.cores ?? 2} cores ran jobs slower than alone, by run.`,
    `- A pod starts ${meta.podStartSeconds} s after it is created, then the worker's own start takes ${LAB_LATENCIES.workerStart} s real = ${round(LAB_LATENCIES.workerStart * speed)} trace s, and a pod's first job ${LAB_LATENCIES.firstJobExtra} s real = ${round(LAB_LATENCIES.firstJobExtra * speed)} trace s more (it starts the extraction threads), both measured alone: pods doing either at once share the ${meta.cores ?? 2} cores (n of them take n ÷ ${meta.cores ?? 2} times as long). The push from a job enqueued to KEDA takes ${LAB_LATENCIES.push} s real = ${round(LAB_LATENCIES.push * speed)} trace s; the sidecar's restart after the outage ${LAB_LATENCIES.sidecarRestart} s real = ${round(LAB_LATENCIES.sidecarRestart * speed)} trace s.`,
    `- Uploads in requests of at most ${meta.uploads.filesPerRequest} files (those arriving together), at most ${meta.uploads.inFlight} in flight, each taking ${round(LAB_LATENCIES.uploadRequest * speed)} trace s + ${round(LAB_LATENCIES.uploadPerFile * speed)} trace s per file (fitted to the real runs, not measured alone: 80 of the burst's 100 files were queued by ~8 s, when KEDA's first poll caught them, and the polled policies' first starts on single-file traces fit 1.5 s; 10 s a request would queue the burst after that first poll).`,
    `- CPU (for \`hpa-cpu-80\`): a sleep-bound job ~13 ms of CPU; a CPU-bound job one core while it runs, every pod sharing the machine's ${meta.cores ?? 2} cores.`,
    "- The fixed pool and an HPA's minimum are ready when the trace starts; the HPA reads the sidecar's `/metrics` itself (no Prometheus in the real lab).",
    '',
    '| trace | policy | job s | drain s | worker-s | p95 wait s |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const row of rows) {
    const f = row.figures;
    lines.push(
      `| ${row.trace} | ${row.policy} | ${row.jobSeconds.toFixed(1)} | ${cell(f.drainSeconds, 0)} | ${cell(f.workerSeconds, 0)} | ${cell(f.waitP95, 1)} |`,
    );
  }
  lines.push('');
  return lines;
}
