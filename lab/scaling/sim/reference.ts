/**
 * The clairvoyant reference of a trace, on exactly the jobs the policies got (same arrivals, same
 * lengths, same uploads), with the policies' mean pod start-up and the wait objective.
 */
import type { ShippedManifests } from '../manifests.js';
import type { RunResult } from '../report.js';
import { clairvoyant, lowerBound, type ClairvoyantPlan } from './clairvoyant.js';
import { meanDelay } from './delay.js';
import { traceJobs, type RunSpec } from './sim-run.js';
import { SHIPPED } from './sidecar-defaults.js';
import { enqueueTimes } from './uploads.js';

/** The wait objective: the shipped trigger's `targetWaitSeconds`, else the sidecar's default (p95). */
export function objectiveSeconds(manifests: ShippedManifests): number {
  const stated = Number(manifests.keda.metadata.targetWaitSeconds);
  return Number.isFinite(stated) && stated > 0 ? stated : SHIPPED.targetWaitSeconds;
}

export interface Reference {
  plan: ClairvoyantPlan;
  lowerBound: number;
  startupSeconds: number;
  objectiveSeconds: number;
  timeline: RunResult['timeline'];
}

export function reference(
  spec: Pick<RunSpec, 'trace' | 'jobTimes' | 'conditions'>,
  step: number,
): Reference {
  const { conditions } = spec;
  const jobs = traceJobs(spec);
  const enqueued = enqueueTimes(spec.trace.arrivals, conditions.uploads);
  const input = {
    jobs: jobs.map((job) => ({ enqueuedAt: enqueued[job.id]!, runSeconds: job.runSeconds })),
    startupSeconds: meanDelay(conditions.podStart) + conditions.workerStartSeconds,
    concurrency: conditions.manifests.workerConcurrency,
    objectiveSeconds: objectiveSeconds(conditions.manifests),
    maxPods: conditions.manifests.keda.maxReplicaCount,
  };
  const plan = clairvoyant(input);
  const end = spec.trace.seconds + conditions.tailSeconds;
  return {
    plan,
    lowerBound: lowerBound(input),
    startupSeconds: input.startupSeconds,
    objectiveSeconds: input.objectiveSeconds,
    timeline: planTimeline(plan, input.jobs, step, end),
  };
}

/** Pods alive, jobs waiting and jobs running at every `step` seconds from 0 to `end`. */
function planTimeline(
  plan: ClairvoyantPlan,
  jobs: readonly { enqueuedAt: number; runSeconds: number }[],
  step: number,
  end: number,
): RunResult['timeline'] {
  const count = Math.floor(end / step) + 1;
  const replicas = new Float64Array(count + 1);
  const backlog = new Float64Array(count + 1);
  const active = new Float64Array(count + 1);
  // Each interval [from, to) adds 1 at every grid point t with from ≤ t < to.
  const add = (series: Float64Array, from: number, to: number) => {
    const first = Math.max(0, Math.ceil(from / step));
    const last = Math.min(count, Math.ceil(to / step));
    if (first >= last) return;
    series[first]! += 1;
    series[last]! -= 1;
  };
  for (const pod of plan.pods) add(replicas, pod.createdAt, pod.endedAt);
  jobs.forEach((job, i) => {
    const start = plan.starts[i]!;
    add(backlog, job.enqueuedAt, start);
    add(active, start, start + job.runSeconds);
  });
  const timeline: RunResult['timeline'] = [];
  let r = 0;
  let b = 0;
  let a = 0;
  for (let k = 0; k < count; k++) {
    r += replicas[k]!;
    b += backlog[k]!;
    a += active[k]!;
    timeline.push({ t: k * step, replicas: r, backlog: b, active: a });
  }
  return timeline;
}
