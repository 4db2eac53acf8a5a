import { describe, expect, it } from 'vitest';
import { clairvoyant, lowerBound } from '../lab/scaling/sim/clairvoyant.js';

const jobs = (...pairs: [number, number][]) =>
  pairs.map(([enqueuedAt, runSeconds]) => ({ enqueuedAt, runSeconds }));

describe('clairvoyant', () => {
  it('should run three jobs on one pod of two slots, the third when a slot frees', () => {
    // Three 20 s jobs at 0, start-up 10 s, objective 30 s: one pod ready at 0 (created at −10)
    // runs two at 0 and the third at 20 (wait 20 ≤ 30), then ends at 40: 50 worker-seconds.
    // Two pods would cost 2 × 30 = 60.
    const input = {
      jobs: jobs([0, 20], [0, 20], [0, 20]),
      startupSeconds: 10,
      concurrency: 2,
      objectiveSeconds: 30,
    };
    const plan = clairvoyant(input);
    expect(plan.pods).toEqual([{ createdAt: -10, endedAt: 40 }]);
    expect(plan.starts).toEqual([0, 0, 20]);
    expect(plan.workerSeconds).toBe(50);
    expect(plan.met).toBe(true);
    // 60 job-seconds ÷ 2 slots + one start-up.
    expect(lowerBound(input)).toBe(40);
  });

  it('should let a job wait when that puts the next one right behind it', () => {
    // 10 s jobs at 0 and 15 on one slot, start-up 10, objective 30. Ready at 0, the pod would idle
    // between them (−10 to 25: 35); two pods cost 40. Letting the first wait (ready at 15 or 30)
    // runs them back to back: one pod for 10 + 20 s = 30, the least any plan can cost.
    const plan = clairvoyant({
      jobs: jobs([0, 10], [15, 10]),
      startupSeconds: 10,
      concurrency: 1,
      objectiveSeconds: 30,
    });
    expect(plan.workerSeconds).toBe(30);
    expect(plan.pods).toHaveLength(1);
    expect(plan.starts[1]! - plan.starts[0]!).toBe(10);
    expect(plan.waitMax).toBeLessThanOrEqual(30);
  });

  it('should delete an idle pod and start another when the next job is further away than a start-up', () => {
    // Two 10 s jobs 100 s apart: keeping the pod idle for 90 s costs more than a new start-up.
    const plan = clairvoyant({
      jobs: jobs([0, 10], [100, 10]),
      startupSeconds: 10,
      concurrency: 1,
      objectiveSeconds: 0,
    });
    expect(plan.pods).toEqual([
      { createdAt: -10, endedAt: 10 },
      { createdAt: 90, endedAt: 110 },
    ]);
    expect(plan.workerSeconds).toBe(40);
  });

  it('should make jobs wait past the objective when no more pods are allowed', () => {
    const plan = clairvoyant({
      jobs: jobs([0, 20], [0, 20], [0, 20]),
      startupSeconds: 5,
      concurrency: 1,
      objectiveSeconds: 10,
      maxPods: 1,
    });
    expect(plan.starts).toEqual([0, 20, 40]);
    expect(plan.met).toBe(false);
  });
});

describe('lowerBound', () => {
  it('should count the pods that jobs longer than the objective need at once', () => {
    // Four 100 s jobs at 0, objective 10: from 10 to 100 all four must run, on 2-slot pods: 2 pods.
    const input = {
      jobs: jobs([0, 100], [0, 100], [0, 100], [0, 100]),
      startupSeconds: 10,
      concurrency: 2,
      objectiveSeconds: 10,
    };
    expect(lowerBound(input)).toBe(400 / 2 + 2 * 10);
    expect(clairvoyant(input).workerSeconds).toBeGreaterThanOrEqual(lowerBound(input));
  });
});
