import { describe, expect, it } from 'vitest';
import type { QueueSnapshot } from '../src/queue/queue-snapshot.js';
import { RateTracker } from '../src/scaling/queue-rates.js';
import { isActive, metricName, scalingValue } from '../src/scaling/scaling-decision.js';
import { emptyHistogram, queueSnapshot } from '../harness/snapshots.js';

const snapshot = (overrides: Partial<QueueSnapshot> = {}) =>
  queueSnapshot({ sampledAt: 1_000_000, ...overrides });

describe('scalingValue and isActive', () => {
  const s = snapshot({
    backlog: 7,
    oldestJobAgeSeconds: 12.5,
    counts: { ...snapshot().counts, active: 3 },
  });

  it('should give backlog (+ active), oldest age, or workers by mode', () => {
    const base = { targetWaitSeconds: 30, includeActive: true };
    expect(scalingValue(s, {}, { ...base, mode: 'backlog' })).toBe(10);
    expect(scalingValue(s, {}, { ...base, mode: 'backlog', includeActive: false })).toBe(7);
    expect(scalingValue(s, {}, { ...base, mode: 'latency' })).toBe(12.5);
    // Nothing known of the job time: a job as long as the objective, so 7 waiting need 7 slots.
    expect(scalingValue(s, {}, { ...base, mode: 'workers' })).toBe(7);
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

describe('RateTracker arrival rate', () => {
  /** Feeds arrivals (ascending times in s) to a tracker, sampling every `every` s up to `until`. */
  function feed(tracker: RateTracker, arrivals: number[], until: number, every = 1, from = 0) {
    let i = 0;
    let last = snapshot();
    for (let t = from; t <= until + 1e-9; t += every) {
      while (i < arrivals.length && arrivals[i]! <= t) i++;
      last = snapshot({ sampledAt: Math.round(t * 1000), enqueuedTotal: i });
      tracker.observe({ sampledAt: last.sampledAt, durationSeconds: 0, queues: [last] });
    }
    return tracker.rates(last).arrivalPerSecond;
  }
  const evenly = (perSecond: number, from: number, to: number) =>
    Array.from({ length: Math.round((to - from) * perSecond) }, (_, k) => from + k / perSecond);

  it('should measure a rate even when samples come faster than its resolution', () => {
    // Samples every 100 ms with a 60 s window (1 s resolution): the points stay a second apart.
    const rate = feed(new RateTracker(60), evenly(2, 0, 30), 30, 0.1);
    expect(rate).toBeGreaterThan(1.8);
    expect(rate).toBeLessThan(2.2);
  });

  it('should see a step up within about ten seconds', () => {
    // 1 job/s for two minutes, then 5 jobs/s: the 60 s window alone would take a minute.
    const arrivals = [...evenly(1, 0, 120), ...evenly(5, 120, 200)];
    const tracker = new RateTracker(60);
    expect(feed(tracker, arrivals, 120)).toBeCloseTo(1, 1);
    expect(feed(tracker, arrivals, 130, 1, 121)).toBeGreaterThan(4.5);
  });

  it('should count a one-off burst as a backlog, not as a rate', () => {
    // 1 job/s with 100 jobs at once at 100 s: 20 s later the rate is still about 1 job/s, not
    // 1 + 100 / 60.
    const arrivals = [...evenly(1, 0, 120), ...Array.from({ length: 100 }, () => 100)].sort(
      (a, b) => a - b,
    );
    const rate = feed(new RateTracker(60), arrivals, 120)!;
    expect(rate).toBeGreaterThan(0.9);
    expect(rate).toBeLessThan(1.3);
  });

  it('should not collapse on a pause shorter than the window', () => {
    // 2 jobs/s for 90 s, then nothing for 20 s: the window still holds 40 s of the stream.
    const rate = feed(new RateTracker(60), evenly(2, 0, 90), 110)!;
    expect(rate).toBeGreaterThan(1.2);
    expect(rate).toBeLessThan(1.5);
  });

  it('should not overestimate a Poisson stream', () => {
    // Poisson arrivals at 0.5 jobs/s: the estimate, averaged over many windows, within 10 %.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return (seed + 0.5) / 2 ** 31;
    };
    const arrivals: number[] = [];
    for (let t = -Math.log(random()) / 0.5; t < 6000; t += -Math.log(random()) / 0.5) {
      arrivals.push(t);
    }
    const tracker = new RateTracker(60);
    const estimates: number[] = [];
    for (let end = 120; end <= 6000; end += 60) {
      estimates.push(feed(tracker, arrivals, end, 1, end - 119)!);
    }
    const mean = estimates.reduce((sum, r) => sum + r, 0) / estimates.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

describe('RateTracker exposure', () => {
  /** A sample at `t` s: `finished` jobs done (each `each` s), `busy` slots busy. */
  const at = (t: number, finished: number, each: number, busy: number) =>
    snapshot({
      sampledAt: t * 1000,
      processing: {
        completed: { count: finished, sum: finished * each, buckets: new Map() },
        failed: emptyHistogram(),
      },
      workerTotals: {
        live: 4,
        busyWorkers: 4,
        busy,
        concurrency: 8,
        utilization: 0,
        completed: finished,
        failed: 0,
      },
    });
  const observe = (tracker: RateTracker, s: QueueSnapshot) =>
    tracker.observe({ sampledAt: s.sampledAt, durationSeconds: 0, queues: [s] });

  it('should integrate busy slots over time, counting the jobs still running', () => {
    // 4 slots busy for 40 s while 2 jobs of 3 s finished: 160 busy slot-seconds for 2 jobs.
    const tracker = new RateTracker(60);
    for (let t = 0; t <= 40; t += 2) observe(tracker, at(t, t >= 20 ? 2 : 0, 3, 4));
    const { exposure, allTimeProcessingSeconds } = tracker.rates(at(40, 2, 3, 4));
    expect(exposure).toMatchObject({ finished: 2, processingSeconds: 6 });
    expect(exposure!.busySlotSeconds).toBeCloseTo(160, 9);
    expect(allTimeProcessingSeconds).toBe(3);
  });

  it('should stretch the span back until it holds 20 finished jobs, up to 5 windows', () => {
    // One job finishes every 10 s: a 60 s window holds 6; the span goes back to hold 20 (~190 s),
    // but never more than 5 windows (300 s).
    const tracker = new RateTracker(60);
    for (let t = 0; t <= 600; t += 2) observe(tracker, at(t, Math.floor(t / 10), 5, 1));
    const { exposure } = tracker.rates(at(600, 60, 5, 1));
    expect(exposure!.finished).toBeGreaterThanOrEqual(20);
    expect(exposure!.seconds).toBeGreaterThanOrEqual(190);
    expect(exposure!.seconds).toBeLessThanOrEqual(202);
    expect(exposure!.busySlotSeconds / exposure!.finished).toBeCloseTo(10, 0);
    const slow = new RateTracker(60);
    for (let t = 0; t <= 600; t += 2) observe(slow, at(t, Math.floor(t / 100), 5, 1));
    expect(slow.rates(at(600, 6, 5, 1)).exposure!.seconds).toBeLessThanOrEqual(300);
  });
});
