/**
 * Calibration: every (trace, policy) of the real lab's `results.json` run again in the simulator
 * under the real lab's conditions (its compression and settings, the latencies measured there,
 * its uploads, and each job as long as it ran in the real run — else every job as long as the
 * run's median), and
 * the two compared: drain, worker-seconds and p95 wait, flagged outside ±15 %.
 */
import { POLICY_NAMES, type PolicyName } from '../policies.js';
import type { ResultsFile } from '../results-file.js';
import { labConditions } from './sim-presets.js';
import type { SimResult } from './sim-result.js';
import { simulate } from './sim-run.js';

/** How far a simulated figure may be from the real one and still agree. */
export const CALIBRATION_TOLERANCE = 0.15;
/**
 * Differences this small (trace seconds) agree whatever the ratio: 2 trace s are 40 ms real at
 * 50×, one or two ticks of the real lab's loop (a warm pool's waits of 0.1 s against 1.2 s).
 */
export const CALIBRATION_SLACK_SECONDS = 2;

export type CalibratedFigure = 'drainSeconds' | 'workerSeconds' | 'waitP95';
export const CALIBRATED_FIGURES: readonly CalibratedFigure[] = [
  'drainSeconds',
  'workerSeconds',
  'waitP95',
];

export interface Comparison {
  real: number | null;
  sim: number | null;
  /** sim ÷ real; null when either is missing (or real is 0). */
  ratio: number | null;
  /** Within the tolerance, or both missing (e.g. neither drained within the window). */
  agrees: boolean;
}

export interface CalibrationRow {
  trace: string;
  policy: string;
  /** The job length the run was simulated with (the real run's median). */
  jobSeconds: number;
  figures: Record<CalibratedFigure, Comparison>;
  sim: SimResult;
}

export function compare(real: number | null, sim: number | null): Comparison {
  if (real === null || sim === null) return { real, sim, ratio: null, agrees: real === sim };
  const ratio = real > 0 ? sim / real : null;
  const agrees =
    Math.abs(real - sim) <= CALIBRATION_SLACK_SECONDS ||
    (ratio !== null && Math.abs(ratio - 1) <= CALIBRATION_TOLERANCE);
  return { real, sim, ratio, agrees };
}

const isPolicy = (name: string): name is PolicyName =>
  (POLICY_NAMES as readonly string[]).includes(name);

/** Runs the real lab's runs again in the simulator; `filter` picks some of them. */
export async function calibrate(
  file: ResultsFile,
  filter: (trace: string, policy: string) => boolean = () => true,
): Promise<CalibrationRow[]> {
  const rows: CalibrationRow[] = [];
  for (const real of file.results) {
    if (!filter(real.trace, real.policy) || !isPolicy(real.policy)) continue;
    const trace = file.traces.find((t) => t.name === real.trace);
    if (!trace) throw new Error(`results.json has no trace named ${real.trace}`);
    const jobSeconds = real.runP50 ?? file.meta.jobSeconds;
    // Each job as long as it ran in the real run (its median where it did not finish), else every
    // job as long as the run's median.
    const replayed = real.jobRuns?.length === trace.arrivals.length;
    const sim = await simulate({
      trace,
      policy: real.policy,
      jobTimes: replayed
        ? {
            kind: 'given',
            seconds: real.jobRuns!.map((run) => run ?? jobSeconds),
            label: 'as in the real run',
          }
        : { kind: 'fixed', mean: jobSeconds },
      conditions: labConditions(file.meta, trace.mix ?? 'sleep'),
    });
    const figures = Object.fromEntries(
      CALIBRATED_FIGURES.map((figure) => [figure, compare(real[figure], sim[figure])]),
    ) as Record<CalibratedFigure, Comparison>;
    rows.push({ trace: real.trace, policy: real.policy, jobSeconds, figures, sim });
  }
  return rows;
}
