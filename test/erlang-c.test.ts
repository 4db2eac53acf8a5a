import { describe, expect, it } from 'vitest';
import {
  erlangB,
  erlangC,
  serversForWait,
  waitExceedsProbability,
  waitPercentile,
} from '../src/scaling/erlang-c.js';

/**
 * Erlang C computed independently of the module: the textbook formula with its sums, in log space
 * (no recursion shared with the code under test).
 */
function erlangCDirect(c: number, a: number): number {
  const logTerm = (k: number) => {
    let log = k * Math.log(a);
    for (let i = 2; i <= k; i++) log -= Math.log(i);
    return log;
  };
  const top = Math.exp(logTerm(c)) * (c / (c - a));
  let sum = 0;
  for (let k = 0; k < c; k++) sum += Math.exp(logTerm(k));
  return top / (sum + top);
}

describe('Erlang B and C', () => {
  it('should match the published Erlang B table', () => {
    // Erlang B tables (e.g. ITU-T's "Teletraffic Engineering Handbook", table of E1,n(A)):
    // 10 servers at 10 Erlangs block 21.46 %; 5 servers at 2 Erlangs block 3.67 %.
    expect(erlangB(10, 10)).toBeCloseTo(0.2146, 4);
    expect(erlangB(5, 2)).toBeCloseTo(0.0367, 4);
    expect(erlangB(0, 3)).toBe(1);
  });

  it('should match the published call-centre worked example', () => {
    // "The Erlang-C formula" worked example (erlang.com, Westbay Engineers; also in callcentrehelper's
    // Erlang C guide): 360 calls per half hour lasting 4 minutes on average, 55 agents, answer
    // target 15 s. Traffic 48 Erlangs; probability of waiting 23.87 %; average speed of answer
    // 8.2 s; service level 84.6 % of calls answered within 15 s.
    const a = (360 / 1800) * 240;
    expect(a).toBeCloseTo(48, 9);
    const c = erlangC(55, a);
    expect(c).toBeCloseTo(0.2387, 4);
    expect((c * 240) / (55 - a)).toBeCloseTo(8.2, 1);
    expect(1 - waitExceedsProbability(55, a, 240, 15)).toBeCloseTo(0.846, 3);
  });

  it('should agree with the formula computed directly', () => {
    for (const [c, a] of [
      [1, 0.5],
      [2, 1.5],
      [11, 10],
      [12, 10],
      [40, 33.3],
      [120, 100],
    ] as const) {
      expect(erlangC(c, a)).toBeCloseTo(erlangCDirect(c, a), 10);
    }
  });

  it('should say every arrival waits at or above 100 % utilization, none without load', () => {
    expect(erlangC(10, 10)).toBe(1);
    expect(erlangC(4, 9)).toBe(1);
    expect(waitExceedsProbability(10, 10, 20, 1000)).toBe(1);
    expect(waitPercentile(10, 10, 20, 0.95)).toBe(Infinity);
    expect(erlangC(3, 0)).toBe(0);
  });

  it('should refuse inputs that have no meaning', () => {
    expect(() => erlangB(2.5, 1)).toThrow(RangeError);
    expect(() => erlangC(3, -1)).toThrow(RangeError);
    expect(() => erlangC(3, Infinity)).toThrow(RangeError);
    expect(() => serversForWait(5, 0, 30, 0.95)).toThrow(/serviceSeconds/);
    expect(() => serversForWait(5, 20, -1, 0.95)).toThrow(/waitSeconds/);
    expect(() => serversForWait(5, 20, 30, 1)).toThrow(/percentile/);
  });
});

describe('serversForWait', () => {
  it('should find the fewest servers that keep the p95 wait', () => {
    // 0.5 jobs/s of 20 s: a = 10 busy slots. With 11 slots P(wait > 30 s) = C(11, 10) · e^(−1.5)
    // = 0.682 × 0.223 = 15 % (too many); with 12, C(12, 10) · e^(−3) = 0.449 × 0.0498 = 2.2 %.
    expect(erlangC(11, 10)).toBeCloseTo(0.6821, 4);
    expect(waitExceedsProbability(11, 10, 20, 30)).toBeGreaterThan(0.05);
    expect(waitExceedsProbability(12, 10, 20, 30)).toBeLessThanOrEqual(0.05);
    expect(serversForWait(10, 20, 30, 0.95)).toBe(12);
    // The call-centre example: 80 % within 15 s needs the 55 agents (54 give 79.3 %).
    expect(1 - waitExceedsProbability(54, 48, 240, 15)).toBeLessThan(0.8);
    expect(serversForWait(48, 240, 15, 0.8)).toBe(55);
  });

  it('should always stay below 100 % utilization, and need fewer spare slots per job at scale', () => {
    for (const a of [0.01, 0.5, 3, 47.5, 400, 5000]) {
      const c = serversForWait(a, 20, 40, 0.95);
      expect(c).toBeGreaterThan(a);
      expect(waitExceedsProbability(c, a, 20, 40)).toBeLessThanOrEqual(0.05);
      if (c - 1 > a) expect(waitExceedsProbability(c - 1, a, 20, 40)).toBeGreaterThan(0.05);
    }
    // Economy of scale: utilization at the answer rises with the load.
    const utilization = (a: number) => a / serversForWait(a, 20, 40, 0.95);
    expect(utilization(400)).toBeGreaterThan(utilization(10));
    expect(serversForWait(0, 20, 40, 0.95)).toBe(0);
  });

  it('should stay finite and close to the square-root rule beyond the exact range', () => {
    const c = serversForWait(200_000, 20, 30, 0.95);
    // a + 1.645·√a = 200 736.
    expect(c).toBe(200_736);
  });

  it('should name the p95 wait at a given size', () => {
    // 12 slots at a = 10, S = 20: (20 / 2) · ln(0.449 / 0.05) = 21.9 s.
    expect(waitPercentile(12, 10, 20, 0.95)).toBeCloseTo(
      10 * Math.log(erlangCDirect(12, 10) / 0.05),
      9,
    );
    expect(waitPercentile(40, 10, 20, 0.95)).toBe(0);
  });
});
