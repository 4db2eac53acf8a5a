import { describe, expect, it } from 'vitest';
import type { QueueSnapshot } from '../src/queue/queue-snapshot.js';
import { RateTracker } from '../src/scaling/queue-rates.js';
import {
  desiredWorkers,
  isActive,
  metricName,
  scalingValue,
} from '../src/scaling/scaling-decision.js';
import { emptyHistogram, queueSnapshot, workerSnapshot } from '../harness/snapshots.js';

const snapshot = (overrides: Partial<QueueSnapshot> = {}) =>
  queueSnapshot({ sampledAt: 1_000_000, ...overrides });
const worker = workerSnapshot;

describe('desiredWorkers', () => {
  it('should size steady load by Little’s law: arrival rate × processing time / concurrency', () => {
    // 3 jobs/s × 4 s = 12 busy slots; 4 slots per worker → 3 workers.
    const s = snapshot({ workers: [worker('a', 0, 4)] });
    expect(
      desiredWorkers(s, { arrivalPerSecond: 3, meanProcessingSeconds: 4 }, { drainSeconds: 60 }),
    ).toBe(3);
  });

  it('should add what drains the backlog within drainSeconds', () => {
    // 120 waiting × 1 s / 60 s = 2 slots, + 1 job/s × 1 s = 1 slot → 3 workers of 1 slot.
    const s = snapshot({ backlog: 120 });
    expect(
      desiredWorkers(
        s,
        { arrivalPerSecond: 1, meanProcessingSeconds: 1 },
        { drainSeconds: 60, concurrency: 1 },
      ),
    ).toBe(3);
  });

  it('should never go below the workers busy right now, nor to 0 while there is work', () => {
    const busy = snapshot({
      workers: [worker('a', 1), worker('b', 2), worker('c', 0)],
      counts: { ...snapshot().counts, active: 3 },
    });
    expect(
      desiredWorkers(
        busy,
        { arrivalPerSecond: 0, meanProcessingSeconds: 0.01 },
        { drainSeconds: 60 },
      ),
    ).toBe(2);
    const waiting = snapshot({ backlog: 1 });
    expect(desiredWorkers(waiting, {}, { drainSeconds: 60 })).toBe(1);
    expect(desiredWorkers(snapshot(), {}, { drainSeconds: 60 })).toBe(0);
  });

  it('should take the longest running job as the processing time before any job finished', () => {
    // A new queue: 200 waiting, 1 worker (2 slots) whose oldest job started 12 s ago, nothing
    // finished yet. 200 × 12 s / 120 s = 20 slots → 10 workers; before it was 1 (the busy worker).
    const running = (startedSecondsAgo: number) => ({
      ...worker('a', 2),
      oldestJobStartedAt: 1_000_000 - startedSecondsAgo * 1000,
    });
    const s = snapshot({
      backlog: 200,
      workers: [running(12)],
      counts: { ...snapshot().counts, active: 2 },
    });
    expect(desiredWorkers(s, {}, { drainSeconds: 120 })).toBe(10);
    // It grows with the running time, and a measured mean takes over once a job finished.
    expect(desiredWorkers({ ...s, workers: [running(24)] }, {}, { drainSeconds: 120 })).toBe(20);
    expect(desiredWorkers(s, { meanProcessingSeconds: 1.2 }, { drainSeconds: 120 })).toBe(1);
    // Nothing running yet: the floor (1 while work waits).
    expect(desiredWorkers(snapshot({ backlog: 200 }), {}, { drainSeconds: 120 })).toBe(1);
  });

  it('should not round float noise up to an extra worker', () => {
    // 0.1 × 30 = 3.0000000000000004 slots → 3 workers, not 4.
    const s = snapshot();
    expect(
      desiredWorkers(
        s,
        { arrivalPerSecond: 0.1, meanProcessingSeconds: 30 },
        { drainSeconds: 60, concurrency: 1 },
      ),
    ).toBe(3);
  });
});

describe('scalingValue and isActive', () => {
  const s = snapshot({
    backlog: 7,
    oldestJobAgeSeconds: 12.5,
    counts: { ...snapshot().counts, active: 3 },
  });

  it('should give backlog (+ active), oldest age, or workers by mode', () => {
    const base = { drainSeconds: 60, includeActive: true };
    expect(scalingValue(s, {}, { ...base, mode: 'backlog' })).toBe(10);
    expect(scalingValue(s, {}, { ...base, mode: 'backlog', includeActive: false })).toBe(7);
    expect(scalingValue(s, {}, { ...base, mode: 'latency' })).toBe(12.5);
    expect(scalingValue(s, {}, { ...base, mode: 'workers' })).toBe(1);
  });

  it('should be active when backlog + active exceeds the activation value', () => {
    expect(isActive(s, 0)).toBe(true);
    expect(isActive(s, 9.9)).toBe(true);
    expect(isActive(s, 10)).toBe(false);
    expect(isActive(snapshot(), 0)).toBe(false);
  });

  it('should name metrics with [a-z0-9-] only', () => {
    expect(metricName('File_Processing.v2', 'backlog')).toBe('qscale-file-processing-v2-backlog');
  });
});

describe('RateTracker', () => {
  const at = (seconds: number, enqueued: number, finished: number, processingSum: number) =>
    snapshot({
      sampledAt: seconds * 1000,
      enqueuedTotal: enqueued,
      processing: {
        completed: { count: finished, sum: processingSum, buckets: new Map() },
        failed: emptyHistogram(),
      },
    });

  it('should measure arrival rate and mean processing time over the window', () => {
    const tracker = new RateTracker(60);
    const samples = [at(0, 0, 0, 0), at(10, 20, 10, 30), at(20, 40, 20, 60)];
    for (const s of samples)
      tracker.observe({ sampledAt: s.sampledAt, durationSeconds: 0, queues: [s] });
    const rates = tracker.rates(samples[2]!);
    expect(rates.arrivalPerSecond).toBeCloseTo(2, 6);
    expect(rates.finishedPerSecond).toBeCloseTo(1, 6);
    expect(rates.meanProcessingSeconds).toBeCloseTo(3, 6);
  });

  it('should forget what is older than the window and restart after a counter reset', () => {
    const tracker = new RateTracker(10);
    const observe = (s: QueueSnapshot) =>
      tracker.observe({ sampledAt: s.sampledAt, durationSeconds: 0, queues: [s] });
    observe(at(0, 0, 0, 0));
    observe(at(100, 1000, 0, 0));
    observe(at(105, 1010, 0, 0));
    expect(tracker.rates(at(105, 1010, 0, 0)).arrivalPerSecond).toBeCloseTo(2, 6);
    observe(at(110, 5, 0, 0)); // Redis was flushed
    expect(tracker.rates(at(110, 5, 0, 0)).arrivalPerSecond).toBeUndefined();
  });
});
