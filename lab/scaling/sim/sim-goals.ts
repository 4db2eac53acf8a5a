/**
 * The issue's goals for the shipped default (`qscale-workers-push`, the `keda-push` overlay),
 * checked on the simulated runs: achieved figures, whatever they are.
 */
import type { TraceOutcome } from './sim-report.js';
import type { SimResult } from './sim-result.js';

const SHIPPED = 'qscale-workers-push';
/** The anchors a user would otherwise deploy. */
const ANCHORS = ['keda-redis-5', 'hpa-external-10', 'hpa-cpu-80'] as const;

const num = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined ? '–' : v.toFixed(digits);
const mark = (ok: boolean) => (ok ? '✓' : '✗');

function met(result: SimResult, objective: number): boolean {
  return result.neverStarted === 0 && result.waitP95 !== null && result.waitP95 <= objective;
}

function find(outcome: TraceOutcome, policy: string): SimResult | undefined {
  return outcome.results.find((r) => r.policy === policy);
}

/** The goals section of the simulator's report. */
export function goalsSection(outcomes: readonly TraceOutcome[], podStartSeconds: number): string[] {
  const objective = outcomes[0]?.reference.objectiveSeconds ?? 30;
  const lines = [
    '## Goals, with the shipped default',
    '',
    `The shipped default is \`${SHIPPED}\` (the \`keda-push\` overlay: \`workers\` mode, objective p95 wait ≤ ${objective} s, no looser than twice the lab's 20 s jobs). Every job-time distribution; ✓/✗ as the goal is met.`,
    '',
  ];

  // The steady stream against KEDA's redis scaler.
  lines.push(
    `**Steady stream: better p95 wait than KEDA's \`redis\` scaler at no more worker-seconds.**`,
    '',
    '| trace | job times | shipped p95 s / worker-s | keda-redis-5 p95 s / worker-s | shorter wait | no more worker-s |',
    '| --- | --- | ---: | ---: | :---: | :---: |',
  );
  for (const o of outcomes.filter((x) => /^steady(-known)?$/.test(x.planned.trace.name))) {
    const s = find(o, SHIPPED);
    const k = find(o, 'keda-redis-5');
    if (!s || !k) continue;
    lines.push(
      `| ${o.planned.trace.name} | ${o.label} | ${num(s.waitP95, 1)} / ${num(s.workerSeconds)} | ${num(k.waitP95, 1)} / ${num(k.workerSeconds)} | ${mark((s.waitP95 ?? Infinity) < (k.waitP95 ?? Infinity))} | ${mark(s.workerSeconds <= k.workerSeconds)} |`,
    );
  }
  lines.push('');

  // Objective, cost against the anchors that also meet it, and against the clairvoyant.
  lines.push(
    '**Steady, ramp, spike and diurnal traces: the objective met, no more worker-seconds than an anchor that also meets it, within 1.3× of the clairvoyant.**',
    '',
    '| trace | job times | shipped p95 s | objective | worker-s | cheapest anchor meeting it | ÷ clairvoyant | within 1.3× |',
    '| --- | --- | ---: | :---: | ---: | --- | ---: | :---: |',
  );
  const streams = /^(steady|ramp|spikes|poisson)(-known)?$|^poisson-1h$|^diurnal$/;
  for (const o of outcomes.filter((x) => streams.test(x.planned.trace.name))) {
    const s = find(o, SHIPPED);
    if (!s) continue;
    const anchors = ANCHORS.map((a) => find(o, a)).filter(
      (r): r is SimResult => r !== undefined && met(r, objective),
    );
    const cheapest = anchors.sort((a, b) => a.workerSeconds - b.workerSeconds)[0];
    const ratio = s.workerSeconds / o.reference.plan.workerSeconds;
    lines.push(
      `| ${o.planned.trace.name} | ${o.label} | ${num(s.waitP95, 1)} | ${mark(met(s, objective))} | ${num(s.workerSeconds)} | ${cheapest ? `${cheapest.policy} ${num(cheapest.workerSeconds)} ${mark(s.workerSeconds <= cheapest.workerSeconds)}` : 'none meets it'} | ${ratio.toFixed(2)} | ${mark(ratio <= 1.3)} |`,
    );
  }
  lines.push('');

  // Bursts from zero against the fixed maximum pool.
  lines.push(
    `**Burst from zero: drain within 1.2× the fixed maximum pool at ≤ 0.5× its worker-seconds; first job within the pod start-up + 1 s (${podStartSeconds + 1} s) with push.**`,
    '',
    '| trace | job times | drain ÷ fixed pool | worker-s ÷ fixed pool | first job s |',
    '| --- | --- | ---: | ---: | ---: |',
  );
  for (const o of outcomes.filter((x) => /^burst(-10k)?$/.test(x.planned.trace.name))) {
    const s = find(o, SHIPPED);
    const f = find(o, 'fixed-max');
    if (!s || !f) continue;
    const drain =
      s.drainSeconds !== null && f.drainSeconds ? s.drainSeconds / f.drainSeconds : null;
    const cost = s.workerSeconds / f.workerSeconds;
    const podStart = o.planned.trace.name === 'burst' ? podStartSeconds + 1 : null;
    lines.push(
      `| ${o.planned.trace.name} | ${o.label} | ${drain === null ? '–' : `${drain.toFixed(2)}× ${mark(drain <= 1.2)}`} | ${cost.toFixed(2)}× ${mark(cost <= 0.5)} | ${num(s.firstStartSeconds, 1)}${podStart === null ? '' : ` ${mark((s.firstStartSeconds ?? Infinity) <= podStart)}`} |`,
    );
  }
  lines.push('');

  // Safety and churn, over every run of the shipped default.
  const shipped = outcomes.flatMap((o) => o.results.filter((r) => r.policy === SHIPPED));
  const busyIdle = shipped.reduce((n, r) => n + r.busyTerminatedWhileIdleKept, 0);
  const lost = outcomes.flatMap((o) => o.results).reduce((n, r) => n + r.lost, 0);
  let fewerChanges = 0;
  let compared = 0;
  for (const o of outcomes) {
    const s = find(o, SHIPPED);
    const k = find(o, 'keda-redis-5');
    if (!s || !k) continue;
    compared++;
    if (s.replicaChanges <= k.replicaChanges) fewerChanges++;
  }
  lines.push(
    `**Safety and churn.** Busy pods deleted while an idle one was kept, over the ${shipped.length} runs of the shipped default: ${busyIdle} (goal 0). Jobs lost over every run: ${lost} (goal 0). No more replica changes than KEDA's \`redis\` scaler on the same trace and job times: ${fewerChanges} of ${compared} runs.`,
    '',
  );
  return lines;
}
