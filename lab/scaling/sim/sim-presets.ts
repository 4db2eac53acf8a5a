/**
 * The two sets of conditions the simulator runs under: a cluster (no time compression, the
 * shipped settings' defaults) and the real lab's (its compression, its settings and the latencies
 * measured there, for calibration).
 */
import type { ShippedManifests } from '../manifests.js';
import type { ResultsMeta } from '../results-file.js';
import type { JobMix } from '../file-mix.js';
import type { Delay } from './delay.js';
import type { JobCpu, SimConditions } from './sim-conditions.js';
import { SHIPPED } from './sidecar-defaults.js';

/** A sleep-bound job (an embedding API call) uses ~13 ms of CPU (measured alone in the lab). */
export const SLEEP_BOUND_CPU: JobCpu = { perJobSeconds: 0.013, coresWhileRunning: 0 };
/** A CPU-bound job in a cluster: one core while it runs. */
export const CPU_BOUND_CPU: JobCpu = { perJobSeconds: 0, coresWhileRunning: 1 };

export const SEED = 20260105;

/**
 * A cluster: the sidecar's and the workers' defaults (RATE_WINDOW_SECONDS, SAMPLE_TTL_MS,
 * HEARTBEAT_SECONDS, UTILIZATION_WINDOW_SECONDS as declared; WORKER_SERIES_LIMIT 100), a worker's own
 * start of 1 s, the push path and prometheus-adapter's scrape (15 s, the ServiceMonitor's).
 */
export function clusterConditions(
  manifests: ShippedManifests,
  podStart: Delay,
  mix: JobMix,
  overrides: Partial<SimConditions> = {},
): SimConditions {
  return {
    speed: 1,
    sidecar: {
      rateWindowSeconds: SHIPPED.rateWindowSeconds,
      sampleTtlMs: SHIPPED.sampleTtlMs,
      heartbeatSeconds: SHIPPED.heartbeatSeconds,
    },
    manifests,
    podStart,
    workerStartSeconds: 1,
    firstJobExtraSeconds: 0,
    pushSeconds: 0.1,
    watchMinIntervalSeconds: 0.25,
    flushDelaySeconds: 0.1,
    utilizationWindowSeconds: SHIPPED.utilizationWindowSeconds,
    maxListedWorkers: 100,
    adapterScrapeSeconds: 15,
    uploads: undefined,
    cpu: mix === 'cpu' ? CPU_BOUND_CPU : SLEEP_BOUND_CPU,
    machineCores: undefined,
    sidecarRestartSeconds: 2,
    tailSeconds: 360,
    timelineStepSeconds: 1,
    seed: SEED,
    ...overrides,
  };
}

/** Latencies of the real parts measured in the real lab, real seconds (× its speed in trace time). */
export const LAB_LATENCIES = {
  /** A worker's own start: connect, create the BullMQ worker. */
  workerStart: 0.08,
  /** A pod's first job starting the worker's extraction threads (CPU). */
  firstJobExtra: 0.09,
  /** From a job enqueued to KEDA holding the pushed value. */
  push: 0.05,
  /**
   * One upload request through the upload API: this plus `uploadPerFile` per file. Fitted to the
   * real runs (80 of the burst's 100 files queued by ~8 trace s with 8 requests of 10 in flight;
   * first starts of the polled policies on single-file traces), not measured alone.
   */
  uploadRequest: 0.02,
  uploadPerFile: 0.01,
  /** The sidecar's restart after an outage. */
  sidecarRestart: 1.5,
} as const;

/** The real lab's conditions, from its results file's meta, for a trace of the given mix. */
export function labConditions(meta: ResultsMeta, mix: JobMix): SimConditions {
  const speed = meta.speed;
  return {
    speed,
    sidecar: meta.sidecar,
    manifests: meta.manifests,
    podStart: { kind: 'fixed', seconds: meta.podStartSeconds },
    workerStartSeconds: LAB_LATENCIES.workerStart * speed,
    firstJobExtraSeconds: LAB_LATENCIES.firstJobExtra * speed,
    pushSeconds: LAB_LATENCIES.push * speed,
    watchMinIntervalSeconds: 0.25,
    flushDelaySeconds: 0.1,
    // The lab's UTILIZATION_WINDOW_SECONDS.
    utilizationWindowSeconds: 5,
    maxListedWorkers: 100,
    // The lab's HPA reads the sidecar's /metrics itself.
    adapterScrapeSeconds: 0,
    uploads: {
      filesPerRequest: meta.uploads.filesPerRequest,
      inFlight: meta.uploads.inFlight,
      requestSeconds: LAB_LATENCIES.uploadRequest * speed,
      requestSecondsPerFile: LAB_LATENCIES.uploadPerFile * speed,
    },
    // A CPU-bound job takes a core while it runs, and every pod shares the lab's cores.
    cpu: mix === 'cpu' ? CPU_BOUND_CPU : SLEEP_BOUND_CPU,
    machineCores: meta.cores ?? 2,
    sidecarRestartSeconds: LAB_LATENCIES.sidecarRestart * speed,
    tailSeconds: meta.tailSeconds,
    timelineStepSeconds: 1,
    seed: SEED,
  };
}
