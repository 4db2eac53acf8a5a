/**
 * The real lab's results, machine-readable (`report/results.json`): every run, its timeline
 * thinned, the traces and the conditions of the run. The simulator's calibration reads it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReportMeta, RunResult } from './report.js';
import type { Trace } from './traces.js';

/** What the sidecar and the workers were set to, on their (real) clock. */
export interface SidecarConditions {
  /** RATE_WINDOW_SECONDS of the sidecar. */
  rateWindowSeconds: number;
  /** TARGET_WAIT_SECONDS of the sidecar (its default objective), when set. */
  targetWaitSeconds?: number;
  /** SAMPLE_TTL_MS of the sidecar. */
  sampleTtlMs: number;
  /** HEARTBEAT_SECONDS of the workers. */
  heartbeatSeconds: number;
  /**
   * What the queue's stored history said when the sidecar started (the queue ran before), on the
   * sidecar's clock; absent: a new queue.
   */
  history?: { processingSeconds?: number; concurrency?: number };
}

export interface ResultsMeta extends ReportMeta {
  sidecar: SidecarConditions;
  /** Files per upload request at most, and requests in flight at most. */
  uploads: { filesPerRequest: number; inFlight: number };
  generatedAt: string;
  /** Cores of the machine every pod ran on. */
  cores?: number;
  /** Where the figures came from when not from a run (e.g. read back from the report's tables). */
  source?: string;
}

export interface ResultsFile {
  meta: ResultsMeta;
  traces: Trace[];
  results: RunResult[];
}

export const RESULTS_FILE = 'results.json';

/** Keeps a point where replicas, backlog or active changed, and the last one. */
export function thinTimeline(timeline: RunResult['timeline']): RunResult['timeline'] {
  const out: RunResult['timeline'] = [];
  for (const point of timeline) {
    const last = out[out.length - 1];
    if (
      !last ||
      last.replicas !== point.replicas ||
      last.backlog !== point.backlog ||
      last.active !== point.active
    ) {
      out.push(point);
    }
  }
  const final = timeline[timeline.length - 1];
  if (final && out[out.length - 1] !== final) out.push(final);
  return out.map((p) => ({ ...p, t: Math.round(p.t * 10) / 10 }));
}

export async function writeResultsFile(dir: string, file: ResultsFile): Promise<void> {
  const thinned = {
    ...file,
    results: file.results.map((r) => ({ ...r, timeline: thinTimeline(r.timeline) })),
  };
  await writeFile(join(dir, RESULTS_FILE), `${JSON.stringify(thinned, null, 1)}\n`);
}

export async function readResultsFile(path: string): Promise<ResultsFile> {
  const file = JSON.parse(await readFile(path, 'utf8')) as ResultsFile;
  if (!Array.isArray(file.results) || !Array.isArray(file.traces) || !file.meta) {
    throw new Error(`${path} is not a results file (meta, traces, results)`);
  }
  return file;
}
