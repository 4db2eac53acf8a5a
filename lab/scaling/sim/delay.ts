import type { Random } from './random.js';

/** A start-up delay: fixed, or lognormal around a median. */
export type Delay =
  { kind: 'fixed'; seconds: number } | { kind: 'lognormal'; median: number; sigma: number };

export function drawDelay(delay: Delay, random: Random): number {
  return delay.kind === 'fixed' ? delay.seconds : random.lognormalMedian(delay.median, delay.sigma);
}

/** The mean of a delay. */
export function meanDelay(delay: Delay): number {
  return delay.kind === 'fixed'
    ? delay.seconds
    : delay.median * Math.exp((delay.sigma * delay.sigma) / 2);
}

export function describeDelay(delay: Delay): string {
  return delay.kind === 'fixed'
    ? `${delay.seconds} s`
    : `lognormal, median ${delay.median} s, σ ${delay.sigma}`;
}
