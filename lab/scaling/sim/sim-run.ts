/**
 * One policy on one trace in virtual time, driven exactly as the real lab's loop drives it
 * (`run.ts`): every trace second the sidecar is read (the lab's scrape), the policy ticks (HPA
 * syncs every 15 s, KEDA polls at its interval, pushes are taken at the next tick) and the
 * Deployment is scaled to what it asks; between ticks the cluster moves from event to event.
 */
import { definePolicies, type PolicyName } from '../policies.js';
import type { RunResult } from '../report.js';
import type { Trace } from '../traces.js';
import { describeJobTimes, drawJobSeconds, type JobTimes } from './job-times.js';
import { Random, seedOf } from './random.js';
import { SimCluster } from './sim-cluster.js';
import type { SimConditions } from './sim-conditions.js';
import { simIo } from './sim-io.js';
import { simJob, type SimJob } from './sim-job.js';
import { measure, type SimResult } from './sim-result.js';
import { SimSidecar } from './sim-sidecar.js';
import { enqueueTimes } from './uploads.js';

export const SIM_QUEUE = 'file_processing';

export interface RunSpec {
  trace: Trace;
  policy: PolicyName;
  /** How long jobs run: a distribution, or one length per job. */
  jobTimes: JobTimes | { kind: 'given'; seconds: readonly number[]; label: string };
  conditions: SimConditions;
}

/** The jobs of a trace: the same lengths for every policy (one stream of draws per trace). */
export function traceJobs(spec: Pick<RunSpec, 'trace' | 'jobTimes' | 'conditions'>): SimJob[] {
  const { trace, jobTimes, conditions } = spec;
  const random = new Random(seedOf(conditions.seed, `jobs:${trace.name}`));
  return trace.arrivals.map((arrival, i) =>
    simJob(
      i,
      arrival,
      jobTimes.kind === 'given' ? jobTimes.seconds[i]! : drawJobSeconds(jobTimes, random),
    ),
  );
}

export function jobTimesLabel(jobTimes: RunSpec['jobTimes']): string {
  return jobTimes.kind === 'given' ? jobTimes.label : describeJobTimes(jobTimes);
}

export async function simulate(spec: RunSpec): Promise<SimResult> {
  const started = performance.now();
  const { trace, conditions: c } = spec;
  const speed = c.speed;
  const jobs = traceJobs(spec);
  const cluster = new SimCluster({
    concurrency: c.manifests.workerConcurrency,
    graceSeconds: c.manifests.terminationGracePeriodSeconds,
    speed,
    podStart: c.podStart,
    workerStartSeconds: c.workerStartSeconds,
    firstJobExtraSeconds: c.firstJobExtraSeconds,
    heartbeatSeconds: c.sidecar.heartbeatSeconds * speed,
    flushDelaySeconds: c.flushDelaySeconds * speed,
    utilizationWindowSeconds: c.utilizationWindowSeconds * speed,
    cpu: c.cpu,
    machineCores: c.machineCores,
    // The same pod start-up draws, in creation order, for every policy on a trace.
    random: new Random(seedOf(c.seed, `pods:${trace.name}`)),
  });
  const enqueued = enqueueTimes(trace.arrivals, c.uploads);
  for (const job of jobs) cluster.events.add(enqueued[job.id]!, () => cluster.enqueue(job));
  const sidecar = new SimSidecar(cluster, {
    queue: SIM_QUEUE,
    rateWindowSeconds: c.sidecar.rateWindowSeconds,
    ...(c.sidecar.targetWaitSeconds !== undefined && {
      targetWaitSeconds: c.sidecar.targetWaitSeconds,
    }),
    ttlMs: c.sidecar.sampleTtlMs,
    maxWorkers: c.maxListedWorkers,
    pushSeconds: c.pushSeconds,
    watchMinIntervalSeconds: c.watchMinIntervalSeconds * speed,
    adapterScrapeSeconds: c.adapterScrapeSeconds,
    ...(trace.outage && { outage: trace.outage }),
    restartSeconds: c.sidecarRestartSeconds,
    ...(c.sidecar.history && { history: c.sidecar.history }),
  });
  cluster.onQueueEvent = () => sidecar.onQueueEvent();
  const policy = definePolicies(c.manifests, { speed, queue: SIM_QUEUE })[spec.policy]();
  const io = simIo(cluster, sidecar);
  cluster.startWarm(policy.initialReplicas);
  const timeline: RunResult['timeline'] = [];
  // Every policy is measured over the same window: the trace, then the tail.
  const end = trace.seconds + c.tailSeconds;
  for (let t = 0; t <= end; t++) {
    await cluster.runUntil(t);
    await sidecar.tick(t);
    const desired = await policy.tick(t, io);
    if (desired !== undefined) cluster.scale(desired, (pod) => sidecar.deletionCost(pod));
    if (t % c.timelineStepSeconds === 0) {
      timeline.push({
        t,
        replicas: cluster.replicas,
        backlog: cluster.queue.length,
        active: cluster.active,
      });
    }
  }
  await cluster.runUntil(end);
  policy.close?.();
  return {
    trace: trace.name,
    policy: spec.policy,
    jobTimes: jobTimesLabel(spec.jobTimes),
    ...measure(cluster, jobs, end),
    timeline,
    wallMs: performance.now() - started,
  };
}
