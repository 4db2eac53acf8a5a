/** What `--sim` runs (and `--sim --quick`, a small subset): traces, job times, policies. */
import type { ShippedManifests } from '../manifests.js';
import { POLICY_NAMES, type PolicyName } from '../policies.js';
import { burst, cpuBound, ramp, spikes, steady, withOutage, type Trace } from '../traces.js';
import type { Delay } from './delay.js';
import type { JobTimes } from './job-times.js';
import { withMaxReplicas, type SimConditions } from './sim-conditions.js';
import { clusterConditions, SEED } from './sim-presets.js';
import { clusterBurst, diurnal, diurnalRate, poisson, type DiurnalShape } from './sim-traces.js';

export type Section = 'lab' | 'cluster';

export interface PlannedTrace {
  section: Section;
  trace: Trace;
  jobTimes: JobTimes[];
  policies: readonly PolicyName[];
  conditions: SimConditions;
  /** The job times whose runs are charted. */
  charted: JobTimes['kind'];
  /** The arrival rate the trace was drawn from, charted with the arrivals (the diurnal day). */
  rate?: (t: number) => number;
}

/** Job times with a mean: fixed, exponential, lognormal (σ = 1, heavy-tailed). */
export function threeJobTimes(mean: number): JobTimes[] {
  return [
    { kind: 'fixed', mean },
    { kind: 'exponential', mean },
    { kind: 'lognormal', mean, sigma: 1 },
  ];
}

/** The pod start-up of the real lab's traces (its stated figure) and at cluster scale. */
const LAB_POD_START: Delay = { kind: 'fixed', seconds: 10 };
const CLUSTER_POD_START: Delay = { kind: 'lognormal', median: 10, sigma: 0.5 };
/** Sleep-bound jobs of the real lab (an embedding call), CPU-bound ones at cluster speed. */
const SLEEP_JOB_SECONDS = 20;
const CPU_JOB_SECONDS = 10;
const DIURNAL: DiurnalShape = { low: 0.1, high: 2 };

export function fullPlan(manifests: ShippedManifests): PlannedTrace[] {
  const lab = (trace: Trace): PlannedTrace => ({
    section: 'lab',
    trace,
    jobTimes: threeJobTimes(trace.mix === 'cpu' ? CPU_JOB_SECONDS : SLEEP_JOB_SECONDS),
    policies: POLICY_NAMES,
    conditions: clusterConditions(manifests, LAB_POD_START, trace.mix ?? 'sleep'),
    charted: 'lognormal',
  });
  const lognormal: JobTimes[] = [{ kind: 'lognormal', mean: SLEEP_JOB_SECONDS, sigma: 1 }];
  return [
    ...[
      burst(100),
      steady(0.5, 240),
      ramp(0.75, 240),
      spikes(0.1, 3, 20, 240),
      poisson(0.5, 240, SEED),
      withOutage(steady(0.5, 240), 80, 160),
      cpuBound(burst(24)),
      cpuBound(steady(0.08, 240)),
    ].map(lab),
    {
      section: 'cluster',
      trace: clusterBurst(10_000),
      jobTimes: lognormal,
      policies: POLICY_NAMES,
      conditions: clusterConditions(withMaxReplicas(manifests, 500), CLUSTER_POD_START, 'sleep', {
        tailSeconds: 1800,
        timelineStepSeconds: 5,
      }),
      charted: 'lognormal',
    },
    {
      section: 'cluster',
      trace: diurnal(DIURNAL, SEED),
      jobTimes: lognormal,
      policies: POLICY_NAMES,
      conditions: clusterConditions(withMaxReplicas(manifests, 100), CLUSTER_POD_START, 'sleep', {
        timelineStepSeconds: 60,
      }),
      charted: 'lognormal',
      rate: (t) => diurnalRate(DIURNAL, t),
    },
  ];
}

/** A few seconds: two small traces, fixed job times, four policies. */
export function quickPlan(manifests: ShippedManifests): PlannedTrace[] {
  const policies: PolicyName[] = [
    'fixed-max',
    'keda-redis-5',
    'qscale-workers',
    'qscale-workers-push',
  ];
  return [burst(20), steady(0.5, 120)].map((trace) => ({
    section: 'lab',
    trace,
    jobTimes: [{ kind: 'fixed', mean: SLEEP_JOB_SECONDS }],
    policies,
    conditions: clusterConditions(manifests, LAB_POD_START, 'sleep', { tailSeconds: 240 }),
    charted: 'fixed',
  }));
}
