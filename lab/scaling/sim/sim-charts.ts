/** The simulator's charts: replicas and backlog per policy (and the clairvoyant), the rate. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../report.js';
import { lineChartSvg, type ChartSeries } from '../svg-chart.js';
import type { Trace } from '../traces.js';

/** At most this many points per series: a day at 1-minute steps would make a 200 KB chart. */
const MAX_POINTS = 500;

/** Traces longer than this are charted in hours. */
const HOURS_FROM_SECONDS = 6 * 3600;

/**
 * Every k-th point (at most MAX_POINTS), then only where the value changes, and the last one;
 * times divided by `unit` (1: seconds, 3600: hours).
 */
function series(
  name: string,
  timeline: RunResult['timeline'],
  value: (p: RunResult['timeline'][number]) => number,
  unit: number,
): ChartSeries {
  const every = Math.max(1, Math.ceil(timeline.length / MAX_POINTS));
  const points: [number, number][] = [];
  for (let i = 0; i < timeline.length; i += every) {
    const p = timeline[i]!;
    const v = value(p);
    if (points.length === 0 || points[points.length - 1]![1] !== v) points.push([p.t / unit, v]);
  }
  const last = timeline[timeline.length - 1];
  if (last) points.push([last.t / unit, value(last)]);
  return { name, points };
}

export interface ChartedRuns {
  /** File name stem, e.g. `burst-lognormal`. */
  stem: string;
  title: string;
  runs: { name: string; timeline: RunResult['timeline'] }[];
}

/** Writes `<stem>-replicas.svg` and `<stem>-backlog.svg`; returns their names. */
export async function writeRunCharts(dir: string, charted: ChartedRuns): Promise<string[]> {
  const charts: [string, string, (p: RunResult['timeline'][number]) => number][] = [
    ['replicas', 'replicas', (p) => p.replicas],
    ['backlog', 'jobs waiting', (p) => p.backlog],
  ];
  const files: string[] = [];
  const end = Math.max(
    0,
    ...charted.runs.map((run) => run.timeline[run.timeline.length - 1]?.t ?? 0),
  );
  const unit = end > HOURS_FROM_SECONDS ? 3600 : 1;
  for (const [kind, yLabel, value] of charts) {
    const file = `${charted.stem}-${kind}.svg`;
    const svg = lineChartSvg(
      charted.runs.map((run) => series(run.name, run.timeline, value, unit)),
      { title: `${charted.title}: ${kind}`, yLabel, xLabel: unit === 1 ? 'seconds' : 'hours' },
    );
    await writeFile(join(dir, file), svg);
    files.push(file);
  }
  return files;
}

/** Arrivals per second over 10-minute windows, and the rate they were drawn from. */
export async function writeRateChart(
  dir: string,
  trace: Trace,
  rate: (t: number) => number,
): Promise<string> {
  const window = 600;
  const counts = new Array<number>(Math.ceil(trace.seconds / window)).fill(0);
  for (const at of trace.arrivals) counts[Math.min(counts.length - 1, Math.floor(at / window))]!++;
  const unit = trace.seconds > HOURS_FROM_SECONDS ? 3600 : 1;
  const measured: [number, number][] = counts.map((n, i) => [(i * window) / unit, n / window]);
  const curve: [number, number][] = [];
  for (let t = 0; t <= trace.seconds; t += window / 2) curve.push([t / unit, rate(t)]);
  const file = `${trace.name}-rate.svg`;
  // Step lines: the curve drawn at half-window steps, the arrivals held over each window.
  const svg = lineChartSvg(
    [
      { name: 'arrivals (10-min mean)', points: measured },
      { name: 'rate drawn from', points: curve },
    ],
    {
      title: `${trace.name}: arrival rate`,
      yLabel: 'files per second',
      xLabel: unit === 1 ? 'seconds' : 'hours',
    },
  );
  await writeFile(join(dir, file), svg);
  return file;
}
