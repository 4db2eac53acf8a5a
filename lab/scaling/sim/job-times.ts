import type { Random } from './random.js';

/** How long jobs run: a fixed length, or drawn from a distribution with the given mean. */
export type JobTimes =
  | { kind: 'fixed'; mean: number }
  | { kind: 'exponential'; mean: number }
  /** Heavy-tailed: σ is the shape of the logarithm (σ = 1: the p99 is ~6× the mean). */
  | { kind: 'lognormal'; mean: number; sigma: number };

export function drawJobSeconds(times: JobTimes, random: Random): number {
  switch (times.kind) {
    case 'fixed':
      return times.mean;
    case 'exponential':
      return random.exponential(times.mean);
    case 'lognormal':
      return random.lognormalMean(times.mean, times.sigma);
  }
}

export function describeJobTimes(times: JobTimes): string {
  switch (times.kind) {
    case 'fixed':
      return `fixed ${times.mean} s`;
    case 'exponential':
      return `exponential, mean ${times.mean} s`;
    case 'lognormal':
      return `lognormal, mean ${times.mean} s, σ ${times.sigma}`;
  }
}
