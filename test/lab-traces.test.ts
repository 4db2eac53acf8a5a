import { describe, expect, it } from 'vitest';
import { burst, ramp, spikes, steady } from '../lab/scaling/traces.js';

const ascending = (xs: number[]) => xs.every((x, i) => i === 0 || x >= xs[i - 1]!);

describe('lab traces', () => {
  it('should put a burst at t = 0 and a steady stream evenly', () => {
    expect(burst(500).arrivals).toHaveLength(500);
    expect(new Set(burst(500).arrivals)).toEqual(new Set([0]));
    const s = steady(4, 10);
    expect(s.arrivals).toHaveLength(40);
    expect(s.arrivals[1]).toBeCloseTo(0.25);
  });

  it('should ramp up and down symmetrically, with the area of the triangle', () => {
    const r = ramp(10, 60); // 10 files/s at the peak, 60 s: 300 files
    expect(r.arrivals.length).toBe(300);
    expect(ascending(r.arrivals)).toBe(true);
    const firstHalf = r.arrivals.filter((t) => t < 30).length;
    expect(firstHalf).toBeGreaterThanOrEqual(149);
    expect(firstHalf).toBeLessThanOrEqual(151);
    // The rate is highest in the middle: more arrivals in 25–35 s than in 0–10 s.
    const inWindow = (a: number, b: number) => r.arrivals.filter((t) => t >= a && t < b).length;
    expect(inWindow(25, 35)).toBeGreaterThan(3 * inWindow(0, 10));
    expect(Math.max(...r.arrivals)).toBeLessThanOrEqual(60);
  });

  it('should add spikes on top of the base rate', () => {
    const t = spikes(1, 3, 50, 60);
    expect(t.arrivals).toHaveLength(60 + 150);
    expect(ascending(t.arrivals)).toBe(true);
    expect(t.arrivals.filter((x) => x === 10)).toHaveLength(51); // a spike + the base arrival at 10 s
  });
});
