import { describe, expect, it } from 'vitest';
import type { QueueSnapshot } from '../src/queue/queue-snapshot.js';
import {
  recommendWorkers,
  stabilize,
  type AutoscalePolicyInput,
  type Recommendation,
} from '../src/scaling/autoscale-policy.js';
import { queueSnapshot, workerSnapshot } from '../harness/snapshots.js';

/** A snapshot with `backlog` jobs waiting and `active` running. */
function work(backlog: number, active = 0, overrides: Partial<QueueSnapshot> = {}): QueueSnapshot {
  const empty = queueSnapshot();
  return queueSnapshot({
    backlog,
    counts: { ...empty.counts, wait: backlog, active },
    ...overrides,
  });
}

function input(overrides: Partial<AutoscalePolicyInput> = {}): AutoscalePolicyInput {
  return {
    mode: 'backlog',
    minWorkers: 1,
    maxWorkers: 4,
    current: 1,
    snapshot: work(0),
    rates: {},
    sizing: { targetWaitSeconds: 30 },
    ...overrides,
  };
}

describe('recommendWorkers', () => {
  describe('backlog mode', () => {
    it('should ask for ceil(backlog + active / target) workers, with the numbers in the reason', () => {
      expect(recommendWorkers(input({ snapshot: work(25, 2), target: 10 }))).toEqual({
        desired: 3,
        reason: 'backlog 27 / target 10 → 3 workers',
      });
    });

    it('should use the mode’s default target (10) when none is given', () => {
      expect(recommendWorkers(input({ snapshot: work(21) })).desired).toBe(3);
    });

    it('should count running jobs so they keep their workers', () => {
      // Nothing waits, but 5 jobs run: 5 / 2 → 3 workers, not the minimum.
      expect(recommendWorkers(input({ snapshot: work(0, 5), target: 2 })).desired).toBe(3);
    });

    it('should clamp to maxWorkers and say so', () => {
      expect(recommendWorkers(input({ snapshot: work(42), target: 10 }))).toEqual({
        desired: 4,
        reason: 'backlog 42 / target 10 → 5 workers (max 4)',
      });
    });

    it('should clamp to minWorkers and say so', () => {
      expect(recommendWorkers(input({ snapshot: work(0), minWorkers: 2 }))).toEqual({
        desired: 2,
        reason: 'backlog 0 / target 10 → 0 workers (min 2)',
      });
    });
  });

  describe('latency mode', () => {
    it('should scale the current count by value / target (HPA Value semantics)', () => {
      // The oldest job waited 25 s, 10 s is the target: 2 workers × 2.5 → 5, clamped to 4.
      const snapshot = work(30, 0, { oldestJobAgeSeconds: 25 });
      expect(recommendWorkers(input({ mode: 'latency', current: 2, snapshot }))).toEqual({
        desired: 4,
        reason: 'latency 25 s × 2 workers / target 10 s → 5 workers (max 4)',
      });
      expect(
        recommendWorkers(input({ mode: 'latency', current: 2, snapshot, target: 20 })).desired,
      ).toBe(3);
    });

    it('should ask for at least 1 worker while there is work, even from 0', () => {
      const snapshot = work(3, 0, { oldestJobAgeSeconds: 4 });
      expect(
        recommendWorkers(input({ mode: 'latency', current: 0, minWorkers: 0, snapshot })),
      ).toEqual({
        desired: 1,
        reason: 'latency 4 s × 0 workers / target 10 s → 1 worker',
      });
      // Running jobs only (no backlog, age 0): still 1.
      expect(
        recommendWorkers(
          input({ mode: 'latency', current: 2, minWorkers: 0, snapshot: work(0, 1) }),
        ).desired,
      ).toBe(1);
    });
  });

  describe('workers mode', () => {
    it('should take the workers that keep the wait objective as the value itself', () => {
      // 2 jobs/s × 3 s = 6 busy slots; a p95 wait ≤ 30 s needs 7 (Erlang C); 2 per worker → 4.
      const snapshot = work(0, 6, { workers: [workerSnapshot('a', 2), workerSnapshot('b', 2)] });
      expect(
        recommendWorkers(
          input({
            mode: 'workers',
            snapshot,
            rates: { arrivalPerSecond: 2, meanProcessingSeconds: 3 },
          }),
        ),
      ).toEqual({
        desired: 4,
        reason:
          '2 jobs/s × 3 s (measured) = 6 busy slots; p95 wait ≤ 30 s needs 7; ÷ 2 slots per worker → 4 workers',
      });
    });
  });

  describe('scaling to zero', () => {
    it('should ask for 0 only when minWorkers is 0 and there is no work', () => {
      expect(recommendWorkers(input({ minWorkers: 0 }))).toEqual({
        desired: 0,
        reason: 'no work (backlog 0, active 0) → 0 workers (min 0)',
      });
      expect(recommendWorkers(input({ minWorkers: 1 })).desired).toBe(1);
      expect(recommendWorkers(input({ minWorkers: 0, snapshot: work(1) })).desired).toBe(1);
      expect(recommendWorkers(input({ minWorkers: 0, snapshot: work(0, 1) })).desired).toBe(1);
    });

    it('should stay above the activation value before waking up', () => {
      expect(
        recommendWorkers(input({ minWorkers: 0, snapshot: work(3), activationValue: 3 })).reason,
      ).toBe('no work above activation 3 (backlog 3, active 0) → 0 workers (min 0)');
      expect(
        recommendWorkers(input({ minWorkers: 0, snapshot: work(4), activationValue: 3 })).desired,
      ).toBe(1);
    });
  });

  it('should reject bad bounds and targets, naming the option', () => {
    expect(() => recommendWorkers(input({ minWorkers: 5, maxWorkers: 4 }))).toThrow(
      /minWorkers \(5\) must not be above maxWorkers \(4\)/,
    );
    expect(() => recommendWorkers(input({ target: 0 }))).toThrow(/target must be a number > 0/);
    expect(() => recommendWorkers(input({ maxWorkers: 0, minWorkers: 0 }))).toThrow(
      /maxWorkers must be a whole number ≥ 1/,
    );
  });
});

describe('stabilize', () => {
  const decision = (desired: number) => ({ desired, reason: `raw ${desired}` });

  it('should scale up at once', () => {
    const history: Recommendation[] = [{ at: 0, desired: 1 }];
    const result = stabilize(history, 1000, 60_000, decision(4), 1);
    expect(result.desired).toBe(4);
    expect(result.reason).toBe('raw 4');
    expect(result.history).toEqual([
      { at: 0, desired: 1 },
      { at: 1000, desired: 4 },
    ]);
  });

  it('should scale down only to the highest recommendation within the window', () => {
    let history: Recommendation[] = [];
    const step = (at: number, raw: number, current: number) => {
      const result = stabilize(history, at, 3000, decision(raw), current);
      history = result.history;
      return result;
    };
    expect(step(0, 4, 1).desired).toBe(4);
    expect(step(1000, 2, 4).desired).toBe(4);
    const held = step(2000, 1, 4);
    expect(held.desired).toBe(4);
    expect(held.reason).toBe('raw 1; held at 4 (highest recommendation in the last 3 s: 4)');
    // The 4 of t=0 has left the window (t ≤ 3000 - 3000): down to the highest left, 2.
    expect(step(3000, 1, 4).desired).toBe(2);
    // At t=4001 only recommendations of 1 remain.
    expect(step(4001, 1, 2)).toMatchObject({ desired: 1, reason: 'raw 1' });
    expect(history.every((r) => r.at > 4001 - 3000)).toBe(true);
  });

  it('should not scale up to a past high when the current count is already lower', () => {
    // A crash left 1 worker while the window's high was 3 and demand is now 1: keep 1, do not start 2.
    const result = stabilize([{ at: 0, desired: 3 }], 1000, 60_000, decision(1), 1);
    expect(result.desired).toBe(1);
  });

  it('should apply a lower recommendation at once with a window of 0', () => {
    const result = stabilize([{ at: 0, desired: 4 }], 1000, 0, decision(1), 4);
    expect(result.desired).toBe(1);
    expect(result.history).toEqual([{ at: 1000, desired: 1 }]);
  });
});
