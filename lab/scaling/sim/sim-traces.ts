/**
 * Traces the simulator adds to the real lab's (`traces.ts`): Poisson arrivals at a rate, a day of
 * Poisson arrivals on a smooth day/night curve, and a burst at cluster scale.
 */
import { burst, type Trace } from '../traces.js';
import { Random, seedOf } from './random.js';

/** Poisson arrivals at `perSecond` for `seconds` (seeded). */
export function poisson(perSecond: number, seconds: number, seed: number): Trace {
  const random = new Random(seedOf(seed, `poisson:${perSecond}:${seconds}`));
  const arrivals: number[] = [];
  for (
    let t = random.exponential(1 / perSecond);
    t < seconds;
    t += random.exponential(1 / perSecond)
  ) {
    arrivals.push(t);
  }
  return {
    name: 'poisson',
    description: `Poisson arrivals at ${perSecond} files/s for ${seconds} s`,
    arrivals,
    seconds,
  };
}

export interface DiurnalShape {
  /** Arrivals per second at night (the trough, at 0 h) and at the peak (12 h). */
  low: number;
  high: number;
  /** @defaultValue 86 400 (a day) */
  seconds?: number;
}

/** The rate of a diurnal day at `t` seconds: a cosine from the trough at 0 h to the peak at 12 h. */
export function diurnalRate(shape: DiurnalShape, t: number): number {
  const day = shape.seconds ?? 86_400;
  return shape.low + ((shape.high - shape.low) * (1 - Math.cos((2 * Math.PI * t) / day))) / 2;
}

/** A day of Poisson arrivals on {@link diurnalRate} (by thinning a Poisson process at the peak). */
export function diurnal(shape: DiurnalShape, seed: number): Trace {
  const day = shape.seconds ?? 86_400;
  const random = new Random(seedOf(seed, `diurnal:${shape.low}:${shape.high}:${day}`));
  const arrivals: number[] = [];
  for (
    let t = random.exponential(1 / shape.high);
    t < day;
    t += random.exponential(1 / shape.high)
  ) {
    if (random.next() * shape.high < diurnalRate(shape, t)) arrivals.push(t);
  }
  return {
    name: 'diurnal',
    description: `a day of Poisson arrivals from ${shape.low} files/s at night to ${shape.high} files/s at noon (${arrivals.length} files)`,
    arrivals,
    seconds: day,
  };
}

/** `files` files at once from zero workers, named `burst-<n>`. */
export function clusterBurst(files: number): Trace {
  const trace = burst(files);
  return { ...trace, name: `burst-${files >= 1000 ? `${files / 1000}k` : files}` };
}
