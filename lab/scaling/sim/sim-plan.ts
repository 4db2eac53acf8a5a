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
  /**
   * The queue ran before: the sidecar starts with its stored history (the mean job time and the
   * workers' concurrency). Otherwise each run is a new queue.
   */
  known?: boolean;
}

/** The same trace on a queue that ran before: named `<name>-known`. */
function knownQueue(planned: PlannedTrace): PlannedTrace {
  const { trace } = planned;
  return {
    ...planned,
    trace: {
      ...trace,
      name: `${trace.name}-known`,
      description: `${trace.description}; a queue that ran before (the sidecar reads its job time from the stored history)`,
    },
    known: true,
  };
}

/** The conditions of one run: with the queue's history when it is known, from its job times. */
export function runConditions(planned: PlannedTrace, jobTimes: JobTimes): SimConditions {
  const c = planned.conditions;
  if (!planned.known) return c;
  return {
    ...c,
    sidecar: {
      ...c.sidecar,
      history: {
        processingSeconds: jobTimes.mean / c.speed,
        concurrency: c.manifests.workerConcurrency,
      },
    },
  };
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
export const LAB_POD_START_SECONDS = 10;
const LAB_POD_START: Delay = { kind: 'fixed', seconds: LAB_POD_START_SECONDS };
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
  const labTraces = [
    burst(100),
    steady(0.5, 240),
    ramp(0.75, 240),
    spikes(0.1, 3, 20, 240),
    poisson(0.5, 240, SEED),
    withOutage(steady(0.5, 240), 80, 160),
    cpuBound(burst(24)),
    cpuBound(steady(0.08, 240)),
  ].map(lab);
  return [
    // Each run a new queue, as in the real lab…
    ...labTraces,
    // …and a queue that ran before, as most are.
    ...labTraces.map(knownQueue),
    {
      section: 'cluster',
      trace: { ...poisson(0.5, 3600, SEED), name: 'poisson-1h' },
      jobTimes: threeJobTimes(SLEEP_JOB_SECONDS),
      policies: POLICY_NAMES,
      conditions: clusterConditions(manifests, LAB_POD_START, 'sleep', {
        timelineStepSeconds: 10,
      }),
      charted: 'lognormal',
      known: true,
    },
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
