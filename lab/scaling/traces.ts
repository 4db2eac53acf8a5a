/**
 * The load traces of the scaling lab: when files arrive, in trace seconds (before time
 * compression), and which job mix they carry. Every policy is run on the same traces.
 */
import { CPU_MIX_DESCRIPTION, type JobMix } from './file-mix.js';

export interface Trace {
  name: string;
  description: string;
  /** Arrival times in seconds from the start, ascending; one entry per file. */
  arrivals: number[];
  /** How long the trace lasts (the last arrival may be earlier). */
  seconds: number;
  /** What the jobs cost: sleep-bound (the default) or CPU-bound. */
  mix?: JobMix;
  /** The sidecar is stopped from `from` and started again at `to` (trace seconds). */
  outage?: { from: number; to: number };
}

/** The same arrivals with the sidecar down from `from` to `to`, named `outage`. */
export function withOutage(trace: Trace, from: number, to: number): Trace {
  return {
    ...trace,
    name: 'outage',
    description: `${trace.description}, the sidecar down from ${from} s to ${to} s`,
    outage: { from, to },
  };
}

/** The same arrivals carrying the CPU-bound mix (real extraction), named `cpu-<name>`. */
export function cpuBound(trace: Trace): Trace {
  return {
    ...trace,
    name: `cpu-${trace.name}`,
    description: `${trace.description}; CPU-bound files (${CPU_MIX_DESCRIPTION})`,
    mix: 'cpu',
  };
}

/** `files` files at once at t = 0, from zero workers. */
export function burst(files: number): Trace {
  return {
    name: 'burst',
    description: `${files} files at once, from zero workers`,
    arrivals: Array.from({ length: files }, () => 0),
    seconds: 1,
  };
}

/** Evenly spaced arrivals at `perSecond` for `seconds`. */
export function steady(perSecond: number, seconds: number): Trace {
  const count = Math.round(perSecond * seconds);
  return {
    name: 'steady',
    description: `${perSecond} files/s for ${seconds} s`,
    arrivals: Array.from({ length: count }, (_, i) => i / perSecond),
    seconds,
  };
}

/**
 * The rate rises linearly from 0 to `peakPerSecond` over the first half and falls back to 0 over
 * the second: arrivals placed where the integral of the rate reaches each whole file.
 */
export function ramp(peakPerSecond: number, seconds: number): Trace {
  const half = seconds / 2;
  const total = (peakPerSecond * seconds) / 2;
  const arrivals: number[] = [];
  for (let k = 1; k <= Math.floor(total); k++) {
    // Files arrived by time t (t ≤ half): peak × t² / (2 × half).
    const rising = (peakPerSecond * half) / 2;
    if (k <= rising) {
      arrivals.push(Math.sqrt((2 * half * k) / peakPerSecond));
    } else {
      // Mirror of the rise: the remaining files arrive as the rate falls.
      const left = total - k;
      arrivals.push(seconds - Math.sqrt((2 * half * Math.max(0, left)) / peakPerSecond));
    }
  }
  return {
    name: 'ramp',
    description: `0 → ${peakPerSecond} → 0 files/s over ${seconds} s`,
    arrivals,
    seconds,
  };
}

/** `base` files/s with `spikes` bursts of `spikeFiles` files, evenly spread over `seconds`. */
export function spikes(
  base: number,
  spikeCount: number,
  spikeFiles: number,
  seconds: number,
): Trace {
  const arrivals = steady(base, seconds).arrivals;
  for (let i = 0; i < spikeCount; i++) {
    const at = ((i + 0.5) * seconds) / spikeCount;
    for (let k = 0; k < spikeFiles; k++) arrivals.push(at);
  }
  arrivals.sort((a, b) => a - b);
  return {
    name: 'spikes',
    description: `${base} files/s with ${spikeCount} spikes of ${spikeFiles} files over ${seconds} s`,
    arrivals,
    seconds,
  };
}
