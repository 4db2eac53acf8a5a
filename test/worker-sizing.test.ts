import { describe, expect, it } from 'vitest';
import type { QueueSnapshot } from '../src/queue/queue-snapshot.js';
import { waitExceedsProbability } from '../src/scaling/erlang-c.js';
import type { QueueRates } from '../src/scaling/queue-rates.js';
import { desiredWorkers } from '../src/scaling/scaling-decision.js';
import { serviceTime, sizeWorkers } from '../src/scaling/worker-sizing.js';
import { queueSnapshot, workerSnapshot } from '../harness/snapshots.js';

const NOW = 1_000_000;
const snapshot = (overrides: Partial<QueueSnapshot> = {}) =>
  queueSnapshot({ sampledAt: NOW, ...overrides });
/** A worker whose longest current job started `seconds` ago. */
const running = (id: string, busy: number, seconds: number, concurrency = 2) => ({
  ...workerSnapshot(id, busy, concurrency),
  oldestJobStartedAt: NOW - seconds * 1000,
});
const objective = { targetWaitSeconds: 30 };

describe('sizeWorkers', () => {
  it('should size steady load by Erlang C, never at 100 % utilization', () => {
    // 0.5 jobs/s × 20 s = 10 busy slots. Little's law alone says 10 slots = 5 workers of 2 (the
    // old rule); a p95 wait ≤ 30 s needs 12 slots (C(12, 10) e^(−3) = 2.2 % ≤ 5 %; 11 give 15 %).
    const s = snapshot({ workers: [workerSnapshot('a', 0, 2)] });
    const rates = { arrivalPerSecond: 0.5, meanProcessingSeconds: 20 };
    const sizing = sizeWorkers(s, rates, objective);
    expect(sizing.load).toBeCloseTo(10, 9);
    expect(sizing.slots).toBe(12);
    expect(sizing.workers).toBe(6);
    expect(sizing.boundBy).toBe('objective');
    expect(sizing.expectedP95WaitSeconds).toBeLessThanOrEqual(30);
    expect(sizing.reason).toContain('p95 wait ≤ 30 s needs 12');
    // A looser objective needs fewer slots, a stricter one more, always above the load.
    expect(sizeWorkers(s, rates, { targetWaitSeconds: 300 }).slots).toBe(11);
    expect(sizeWorkers(s, rates, { targetWaitSeconds: 1 }).slots).toBe(16);
    expect(waitExceedsProbability(16, 10, 20, 1)).toBeLessThanOrEqual(0.05);
    expect(waitExceedsProbability(15, 10, 20, 1)).toBeGreaterThan(0.05);
  });

  it('should add what brings the backlog under the objective', () => {
    // 120 waiting × 1 s over 30 s = 4 slots beyond the load of 1 job/s × 1 s: 5 slots.
    const s = snapshot({ backlog: 120 });
    const sizing = sizeWorkers(
      s,
      { arrivalPerSecond: 1, meanProcessingSeconds: 1 },
      { ...objective, concurrency: 1 },
    );
    expect(sizing.slots).toBeCloseTo(5, 9);
    expect(sizing.workers).toBe(5);
    expect(sizing.boundBy).toBe('backlog');
    // drainSeconds shorter than the objective drains faster; a longer one changes nothing.
    const faster = { ...objective, drainSeconds: 10, concurrency: 1 };
    expect(desiredWorkers(s, { arrivalPerSecond: 1, meanProcessingSeconds: 1 }, faster)).toBe(13);
    const slower = { ...objective, drainSeconds: 600, concurrency: 1 };
    expect(desiredWorkers(s, { arrivalPerSecond: 1, meanProcessingSeconds: 1 }, slower)).toBe(5);
  });

  it('should grow when a constant stream arrives faster than the current workers drain it', () => {
    // 3 workers of 2 slots, all busy, 24 jobs waiting, and jobs arrive at exactly what 6 slots
    // finish (0.3 jobs/s × 20 s = 6 busy slots): at the old rule's 100 % the backlog never drains.
    const workers = [running('a', 2, 5), running('b', 2, 9), running('c', 2, 14)];
    const s = snapshot({ backlog: 24, workers, counts: { ...snapshot().counts, active: 6 } });
    for (const [arrival, service] of [
      [0.3, 20],
      [0.31, 20],
      [3, 2],
      [0.06, 100],
    ] as const) {
      const sizing = sizeWorkers(
        s,
        { arrivalPerSecond: arrival, meanProcessingSeconds: service },
        {
          targetWaitSeconds: 120,
        },
      );
      expect(sizing.workers).toBeGreaterThan(3);
      // The capacity it asks for exceeds the arrivals, so the backlog shrinks.
      expect(sizing.workers * 2).toBeGreaterThan(arrival * service);
    }
    // Without a backlog too: arrivals at capacity always ask for more than the capacity.
    const noBacklog = snapshot({ workers, counts: { ...snapshot().counts, active: 6 } });
    expect(
      sizeWorkers(noBacklog, { arrivalPerSecond: 0.3, meanProcessingSeconds: 20 }, objective)
        .workers,
    ).toBeGreaterThan(3);
  });

  it('should keep the slots of the running jobs, packed, and 1 worker while there is work', () => {
    // 3 running jobs on workers of 2 slots need 2 workers; spread over 3 busy workers, the third
    // can go (the idle slots go first on a scale-in: pod-deletion-cost).
    const busy = snapshot({
      workers: [workerSnapshot('a', 1), workerSnapshot('b', 1), workerSnapshot('c', 1)],
      counts: { ...snapshot().counts, active: 3 },
    });
    const sizing = sizeWorkers(
      busy,
      { arrivalPerSecond: 0, meanProcessingSeconds: 0.01 },
      objective,
    );
    expect(sizing.workers).toBe(2);
    expect(sizing.boundBy).toBe('busy');
    expect(desiredWorkers(snapshot({ backlog: 1 }), {}, objective)).toBe(1);
    expect(desiredWorkers(snapshot(), {}, objective)).toBe(0);
    expect(desiredWorkers(snapshot(), { meanProcessingSeconds: 5 }, objective)).toBe(0);
  });

  it('should not round float noise up to an extra worker', () => {
    // 0.1 × 30 = 3.0000000000000004 slots of backlog drain: 3 workers, not 4.
    const s = snapshot({ backlog: 3 });
    expect(desiredWorkers(s, { meanProcessingSeconds: 30 }, { ...objective, concurrency: 1 })).toBe(
      3,
    );
  });

  it('should take the concurrency given, else the live workers’, else the history’s, else 1', () => {
    const s = snapshot({ backlog: 60 });
    const rates: QueueRates = { meanProcessingSeconds: 10 };
    // 60 × 10 s / 30 s = 20 slots.
    expect(desiredWorkers(s, rates, objective)).toBe(20);
    expect(desiredWorkers(s, { ...rates, prior: { concurrency: 4 } }, objective)).toBe(5);
    const live = snapshot({ backlog: 60, workers: [workerSnapshot('a', 0, 5)] });
    expect(desiredWorkers(live, { ...rates, prior: { concurrency: 4 } }, objective)).toBe(4);
    expect(desiredWorkers(live, rates, { ...objective, concurrency: 10 })).toBe(2);
  });
});

describe('the first minute of a queue', () => {
  // A new queue: 200 waiting, 1 worker (2 slots) whose oldest job started 12 s ago, nothing
  // finished yet.
  const s = snapshot({
    backlog: 200,
    workers: [running('a', 2, 12)],
    counts: { ...snapshot().counts, active: 2 },
  });

  it('should assume a job as long as the objective while nothing is known, never below the running job', () => {
    // 200 × 30 s / 30 s = 200 slots → 100 workers of 2: a first burst asks for a slot per waiting
    // job at once, instead of 1 worker until a job finishes.
    expect(serviceTime(s, {}, objective)).toEqual({ seconds: 30, from: 'assumed' });
    expect(desiredWorkers(s, {}, objective)).toBe(100);
    // A job running longer than that: its time so far is the better bound, and it grows.
    const long = { ...s, workers: [running('a', 2, 45)] };
    expect(serviceTime(long, {}, objective)).toEqual({ seconds: 45, from: 'running' });
    expect(desiredWorkers(long, {}, objective)).toBe(150);
    // Nothing running yet and no worker: concurrency 1, a slot per waiting job.
    const cold = sizeWorkers(snapshot({ backlog: 20 }), {}, objective);
    expect(cold).toMatchObject({ workers: 20, serviceFrom: 'assumed', boundBy: 'backlog' });
    expect(cold.reason).toContain('(assumed)');
  });

  it('should take the stored history first, then expectedJobSeconds, never below the running job', () => {
    // History 30 s: 200 × 30 / 30 = 200 slots → 100 workers.
    expect(
      serviceTime(s, { prior: { processingSeconds: 30 } }, { ...objective, expectedJobSeconds: 3 }),
    ).toEqual({ seconds: 30, from: 'history' });
    expect(desiredWorkers(s, { prior: { processingSeconds: 15 } }, objective)).toBe(50);
    expect(serviceTime(s, {}, { ...objective, expectedJobSeconds: 15 })).toEqual({
      seconds: 15,
      from: 'expected',
    });
    // A prior shorter than what a job has already run is a known underestimate.
    expect(serviceTime(s, {}, { ...objective, expectedJobSeconds: 3 })).toEqual({
      seconds: 12,
      from: 'running',
    });
    // With nothing running, the prior alone scales a burst out before any pod took a job.
    const fromZero = snapshot({ backlog: 100 });
    expect(desiredWorkers(fromZero, {}, { ...objective, expectedJobSeconds: 20 })).toBe(67);
    expect(
      desiredWorkers(fromZero, { prior: { processingSeconds: 20, concurrency: 2 } }, objective),
    ).toBe(34);
  });

  it('should let the measured jobs take over once some finished', () => {
    const measured = { meanProcessingSeconds: 1.2, prior: { processingSeconds: 30 } };
    expect(serviceTime(s, measured, { ...objective, expectedJobSeconds: 15 })).toEqual({
      seconds: 1.2,
      from: 'measured',
    });
    // 200 × 1.2 / 30 = 8 slots → 4 workers.
    expect(desiredWorkers(s, measured, objective)).toBe(4);
  });

  it('should count the jobs still running: busy slot-seconds ÷ jobs finished, within what jobs showed', () => {
    // Long jobs early on: 2 short ones finished (3 s each) while the slots were busy 200 s in all
    // and a job has run 40 s. The finished mean (3 s) is biased low — the short jobs finish
    // first; busy slot-seconds ÷ finished (100 s) counts the running ones, kept below the longest
    // run seen (40 s); then blended with the all-time mean (3 s) as 3 more jobs:
    // (40 × 2 + 3 × 3) / 5 = 17.8 s.
    const early = snapshot({ workers: [running('a', 2, 40)] });
    const rates: QueueRates = {
      allTimeProcessingSeconds: 3,
      exposure: { finished: 2, processingSeconds: 6, busySlotSeconds: 200, seconds: 60 },
    };
    expect(serviceTime(early, rates, objective).seconds).toBeCloseTo(17.8, 9);
    // Jobs of one length (20 s): none has run longer, so the finished mean stands at once.
    const even = snapshot({ workers: [running('a', 2, 15)] });
    expect(
      serviceTime(
        even,
        {
          allTimeProcessingSeconds: 20,
          exposure: { finished: 5, processingSeconds: 100, busySlotSeconds: 400, seconds: 60 },
        },
        objective,
      ).seconds,
    ).toBeCloseTo(20, 9);
    // A steady stream: busy slot-seconds ÷ finished is Little's law (630 / 30 = 21 s), blended.
    const steady = snapshot({ workers: [running('a', 2, 60)] });
    expect(
      serviceTime(
        steady,
        {
          allTimeProcessingSeconds: 20,
          exposure: { finished: 30, processingSeconds: 600, busySlotSeconds: 630, seconds: 60 },
        },
        objective,
      ).seconds,
    ).toBeCloseTo((21 * 30 + 3 * 20) / 33, 9);
  });
});

describe('sizing against a simulated M/M/c queue', () => {
  it('should keep the p95 wait it promises when arrivals and service are what M/M/c assumes', () => {
    // An independent check of the Erlang C sizing: simulate the queue it sized (Poisson arrivals,
    // exponential service, FIFO over c slots) and measure the p95 wait.
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return (seed + 0.5) / 2 ** 31;
    };
    const exp = (mean: number) => -Math.log(random()) * mean;
    const lambda = 2;
    const service = 10;
    const target = 15;
    const sizing = sizeWorkers(
      snapshot({ workers: [workerSnapshot('a', 0, 1)] }),
      { arrivalPerSecond: lambda, meanProcessingSeconds: service },
      { targetWaitSeconds: target },
    );
    const c = sizing.slots;
    expect(waitExceedsProbability(c, lambda * service, service, target)).toBeLessThanOrEqual(0.05);
    const free = new Array<number>(c).fill(0);
    const waits: number[] = [];
    let t = 0;
    for (let i = 0; i < 200_000; i++) {
      t += exp(1 / lambda);
      let slot = 0;
      for (let k = 1; k < c; k++) if (free[k]! < free[slot]!) slot = k;
      const start = Math.max(t, free[slot]!);
      waits.push(start - t);
      free[slot] = start + exp(service);
    }
    waits.sort((x, y) => x - y);
    const p95 = waits[Math.floor(waits.length * 0.95)]!;
    expect(p95).toBeLessThanOrEqual(target);
    // One slot fewer misses it: the sizing is the fewest that keep it.
    expect(waitExceedsProbability(c - 1, lambda * service, service, target)).toBeGreaterThan(0.05);
  });
});
