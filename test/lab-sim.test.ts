import { describe, expect, it } from 'vitest';
import { readShippedManifests } from '../lab/scaling/manifests.js';
import { POLICY_NAMES } from '../lab/scaling/policies.js';
import { spikes, type Trace } from '../lab/scaling/traces.js';
import { Random } from '../lab/scaling/sim/random.js';
import { SimCluster, type ClusterSettings } from '../lab/scaling/sim/sim-cluster.js';
import { withMaxReplicas } from '../lab/scaling/sim/sim-conditions.js';
import { simJob } from '../lab/scaling/sim/sim-job.js';
import { clusterConditions, SLEEP_BOUND_CPU } from '../lab/scaling/sim/sim-presets.js';
import { simulate } from '../lab/scaling/sim/sim-run.js';
import { enqueueTimes } from '../lab/scaling/sim/uploads.js';

const manifests = readShippedManifests();

function cluster(overrides: Partial<ClusterSettings> = {}): SimCluster {
  return new SimCluster({
    concurrency: 2,
    graceSeconds: 100,
    speed: 1,
    podStart: { kind: 'fixed', seconds: 10 },
    workerStartSeconds: 1,
    firstJobExtraSeconds: 0,
    heartbeatSeconds: 5,
    flushDelaySeconds: 0.1,
    utilizationWindowSeconds: 60,
    cpu: SLEEP_BOUND_CPU,
    machineCores: undefined,
    random: new Random(1),
    ...overrides,
  });
}

const trace = (arrivals: number[], seconds: number): Trace => ({
  name: 'hand',
  description: 'by hand',
  arrivals,
  seconds,
});

describe('SimCluster', () => {
  it('should start pods after their start-up, fill a pod before the next, and delete the least busy on scale-in', async () => {
    const c = cluster();
    const busy = (name: string) => c.pods.find((p) => p.name === name)!.running.length;
    c.scale(2, () => 0);
    const jobs = [0, 1, 2].map((i) => simJob(i, 0, 20));
    for (const job of jobs) c.enqueue(job);
    await c.runUntil(10.5);
    expect(c.active).toBe(0);
    await c.runUntil(11);
    // Both ready at 11 (10 s Pending + 1 s worker start): the first takes two jobs, the second one.
    expect([busy('pod-1'), busy('pod-2')]).toEqual([2, 1]);
    await c.runUntil(15);
    c.scale(1, (pod) => pod.running.length);
    // pod-2 (1 busy slot) goes before pod-1 (2): it finishes its job, then ends.
    expect(c.busyTerminated).toBe(1);
    expect(c.busyTerminatedWhileIdleKept).toBe(0);
    await c.runUntil(50);
    expect(jobs.map((j) => j.startedAt - j.enqueuedAt)).toEqual([11, 11, 11]);
    expect(jobs.map((j) => j.finishedAt)).toEqual([31, 31, 31]);
    expect(c.pods.map((p) => p.endedAt)).toEqual([NaN, 31]);
    // pod-1 from 0 to 50, pod-2 from 0 to its end at 31.
    expect(c.podSeconds(50)).toBe(81);
    expect(c.completedTotal).toBe(3);
  });

  it('should kill a pod after the grace period and put its job back at the head of the queue', async () => {
    const c = cluster({ graceSeconds: 5 });
    c.startWarm(2);
    const jobs = [0, 1, 2].map((i) => simJob(i, 0, 30));
    for (const job of jobs) c.enqueue(job);
    await c.runUntil(15);
    // Each job goes to the pod that waited longest for one: pod-1 takes jobs 0 and 2, pod-2 job 1.
    // pod-2 (one busy slot) goes, and is killed at 20 with its job.
    c.scale(1, (pod) => pod.running.length);
    await c.runUntil(16);
    const later = simJob(3, 16, 5);
    c.enqueue(later);
    await c.runUntil(100);
    expect(c.pods[1]!.killed).toBe(true);
    expect(c.pods[1]!.endedAt).toBe(20);
    expect(c.interrupted).toBe(1);
    // Back ahead of the job added at 16; both start when pod-1's slots free at 30.
    expect([jobs[1]!.attempts, jobs[1]!.startedAt, jobs[1]!.finishedAt]).toEqual([2, 30, 60]);
    expect([later.startedAt, later.finishedAt]).toEqual([30, 35]);
    expect(c.completedTotal).toBe(4);
    expect(c.podSeconds(100)).toBe(100 + 20);
  });
});

describe('enqueueTimes', () => {
  it('should add the jobs of a request when it ends, at most so many requests at once', () => {
    const uploads = {
      filesPerRequest: 2,
      inFlight: 1,
      requestSeconds: 1,
      requestSecondsPerFile: 1,
    };
    // Requests: [0, 0] at 0 → 3; [0] waits for it → 3 + 2 = 5; [10] → 12.
    expect(enqueueTimes([0, 0, 0, 10], uploads)).toEqual([3, 3, 5, 12]);
    expect(enqueueTimes([0, 4], undefined)).toEqual([0, 4]);
  });
});

describe('simulate', () => {
  it('should give a fixed pool the hand-computed waits, drain and worker-seconds', async () => {
    // One warm pod of 2 slots; 10 s jobs at 0, 0, 0, 5 and 30.
    const conditions = clusterConditions(
      withMaxReplicas(manifests, 1),
      { kind: 'fixed', seconds: 10 },
      'sleep',
      {
        tailSeconds: 20,
      },
    );
    const result = await simulate({
      trace: trace([0, 0, 0, 5, 30], 40),
      policy: 'fixed-max',
      jobTimes: { kind: 'fixed', mean: 10 },
      conditions,
    });
    // Starts at 0, 0, 10, 10 (both slots free at 10), 30: waits 0, 0, 10, 5, 0.
    expect([result.waitP50, result.waitP95, result.waitMax]).toEqual([0, 10, 10]);
    expect(result.drainSeconds).toBe(40);
    // The pod runs the whole window: the trace (40 s) then the tail (20 s).
    expect(result.workerSeconds).toBe(60);
    expect([result.completed, result.unfinished, result.lost]).toEqual([5, 0, 0]);
  });

  it('should lose no job and account for every one under every policy', async () => {
    const conditions = clusterConditions(
      manifests,
      { kind: 'lognormal', median: 10, sigma: 0.5 },
      'sleep',
      {
        tailSeconds: 120,
      },
    );
    for (const policy of POLICY_NAMES) {
      const result = await simulate({
        trace: spikes(0.2, 2, 15, 120),
        policy,
        jobTimes: { kind: 'lognormal', mean: 20, sigma: 1 },
        conditions,
      });
      expect(result.lost, policy).toBe(0);
      expect(result.completed + result.unfinished, policy).toBe(result.files);
      expect(result.waitP50! >= 0 && result.waitMax! >= result.waitP95!, policy).toBe(true);
    }
  });

  it('should give the same figures for the same seed', async () => {
    const spec = {
      trace: spikes(0.2, 2, 15, 120),
      policy: 'qscale-workers-push' as const,
      jobTimes: { kind: 'exponential', mean: 20 } as const,
      conditions: clusterConditions(
        manifests,
        { kind: 'lognormal', median: 10, sigma: 0.5 },
        'sleep',
      ),
    };
    const [a, b] = [await simulate(spec), await simulate(spec)];
    expect({ ...a, wallMs: 0 }).toEqual({ ...b, wallMs: 0 });
  });
});
