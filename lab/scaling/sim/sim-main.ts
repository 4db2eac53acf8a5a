/**
 * `npm run lab:scaling -- --sim [--quick]`: the simulator. Calibrates against the real lab's
 * `report/results.json` when there is one, runs every planned trace × job times × policy and the
 * clairvoyant reference, prints the time of each run and writes the report with its charts
 * (`sim-report/`, or `test-artifacts/sim-quick/` with `--quick`, with a `results.json`).
 *
 * `npm run lab:scaling -- --sim --calibrate [results.json]`: only the calibration, against the
 * given results of the real lab (by default `report/results.json`; the real lab's `--quick` writes
 * `test-artifacts/lab-quick/results.json`), into `test-artifacts/sim-calibration/README.md`.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { readShippedManifests } from '../manifests.js';
import { readResultsFile, RESULTS_FILE, thinTimeline } from '../results-file.js';
import { calibrate } from './calibration.js';
import { agreement, calibrationSection } from './calibration-table.js';
import { describeJobTimes } from './job-times.js';
import { reference } from './reference.js';
import { writeRateChart, writeRunCharts } from './sim-charts.js';
import { fullPlan, quickPlan, runConditions } from './sim-plan.js';
import { objectiveMet, writeSimReport, type TraceOutcome } from './sim-report.js';
import { simulate } from './sim-run.js';

/** The policies drawn in the charts. */
const CHARTED: readonly string[] = [
  'fixed-max',
  'hpa-cpu-80',
  'hpa-external-10',
  'keda-redis-5',
  'qscale-workers-push',
];

const REAL_RESULTS = fileURLToPath(new URL(`../report/${RESULTS_FILE}`, import.meta.url));

/** Where the report goes. */
export function simOutDir(quick: boolean): string {
  return fileURLToPath(
    new URL(quick ? '../../../test-artifacts/sim-quick/' : '../sim-report/', import.meta.url),
  );
}

/** Only the calibration, against `path`: the table, formatted, and a summary line. */
async function calibrateOnly(path: string): Promise<void> {
  const out = fileURLToPath(new URL('../../../test-artifacts/sim-calibration/', import.meta.url));
  await mkdir(out, { recursive: true });
  const file = await readResultsFile(path);
  const rows = await calibrate(file);
  const { agree, total } = agreement(rows);
  const target = join(out, 'README.md');
  const markdown = ['# Calibration', '', ...calibrationSection(rows, file, path)].join('\n');
  const options = (await resolveConfig(target)) ?? {};
  await writeFile(target, await format(markdown, { ...options, parser: 'markdown' }));
  console.log(
    `calibration: ${rows.length} runs, ${agree} of ${total} figures within ±15 %: ${target}`,
  );
}

export async function runSimulator(args: readonly string[]): Promise<void> {
  if (args.includes('--calibrate')) {
    const given = args[args.indexOf('--calibrate') + 1];
    return calibrateOnly(given && !given.startsWith('--') ? given : REAL_RESULTS);
  }
  const quick = args.includes('--quick');
  const out = simOutDir(quick);
  await mkdir(out, { recursive: true });
  const started = performance.now();
  const manifests = readShippedManifests();

  let calibration: Parameters<typeof writeSimReport>[1]['calibration'];
  if (existsSync(REAL_RESULTS)) {
    const file = await readResultsFile(REAL_RESULTS);
    // The quick run checks the path on two runs of the burst.
    const rows = await calibrate(file, (trace, policy) =>
      quick ? trace === 'burst' && ['fixed-max', 'keda-redis-5'].includes(policy) : true,
    );
    const { agree, total } = agreement(rows);
    console.log(`calibration: ${rows.length} runs, ${agree} of ${total} figures within ±15 %`);
    calibration = { rows, file, path: 'lab/scaling/report/results.json' };
  }

  const outcomes: TraceOutcome[] = [];
  for (const planned of quick ? quickPlan(manifests) : fullPlan(manifests)) {
    for (const jobTimes of planned.jobTimes) {
      const label = describeJobTimes(jobTimes);
      const spec = { trace: planned.trace, jobTimes, conditions: runConditions(planned, jobTimes) };
      const ref = reference(spec, planned.conditions.timelineStepSeconds);
      const results = [];
      for (const policy of planned.policies) {
        const result = await simulate({ ...spec, policy });
        results.push(result);
        console.log(
          `${planned.trace.name.padEnd(10)} ${jobTimes.kind.padEnd(11)} ${policy.padEnd(20)} ${result.wallMs.toFixed(0).padStart(5)} ms: drain ${result.drainSeconds?.toFixed(0) ?? '-'} s, worker-s ${result.workerSeconds.toFixed(0)} (${(result.workerSeconds / ref.plan.workerSeconds).toFixed(2)}× clairvoyant), p95 wait ${result.waitP95?.toFixed(1) ?? '-'} s${objectiveMet(result, ref.objectiveSeconds) ? ' (met)' : ''}, lost ${result.lost}`,
        );
      }
      const charts: string[] = [];
      if (jobTimes.kind === planned.charted) {
        charts.push(
          ...(await writeRunCharts(out, {
            stem: `${planned.trace.name}-${jobTimes.kind}`,
            title: `${planned.trace.name} (${label})`,
            runs: [
              // Readable charts: the shipped default, the anchors a user would otherwise deploy
              // and the clairvoyant; every policy is in the tables. At cluster scale the fixed
              // pool is a flat line at maxReplicaCount and the CPU HPA one pod whose backlog
              // dwarfs the rest: in the tables only.
              ...results
                .filter((r) => CHARTED.includes(r.policy))
                .filter(
                  (r) =>
                    planned.section === 'lab' || !['fixed-max', 'hpa-cpu-80'].includes(r.policy),
                )
                .map((r) => ({ name: r.policy, timeline: r.timeline })),
              { name: 'clairvoyant', timeline: ref.timeline },
            ],
          })),
        );
        if (planned.rate) charts.push(await writeRateChart(out, planned.trace, planned.rate));
      }
      outcomes.push({ planned, jobTimes, label, results, reference: ref, charts });
    }
  }
  const wallSeconds = (performance.now() - started) / 1000;
  await writeSimReport(out, {
    outcomes,
    calibration,
    manifests,
    wallSeconds,
    command: `npm run lab:scaling -- --sim${quick ? ' --quick' : ''}`,
  });
  if (quick) {
    // Machine-readable, for the test: every run and its reference, timelines thinned.
    const runs = outcomes.map((o) => ({
      trace: o.planned.trace.name,
      jobTimes: o.label,
      objectiveSeconds: o.reference.objectiveSeconds,
      clairvoyant: {
        workerSeconds: o.reference.plan.workerSeconds,
        waitMax: o.reference.plan.waitMax,
        lowerBound: o.reference.lowerBound,
      },
      results: o.results.map((r) => ({ ...r, timeline: thinTimeline(r.timeline) })),
    }));
    await writeFile(join(out, 'results.json'), `${JSON.stringify({ runs }, null, 1)}\n`);
  }
  console.log(`simulator: ${wallSeconds.toFixed(1)} s; report: ${join(out, 'README.md')}`);
}
