/**
 * The conditions one simulated run models: how pods start, how fast the sidecar hears of things,
 * how files reach the queue, what jobs cost in CPU. Times are trace seconds unless they say which
 * clock: the sidecar and the pods run on a clock `speed` times slower than trace time (the real
 * lab's compression; 1 for a cluster).
 */
import type { ShippedManifests } from '../manifests.js';
import type { SidecarConditions } from '../results-file.js';
import type { Delay } from './delay.js';

/** CPU a job uses, on the pods' clock: a fixed amount per job plus cores while it runs. */
export interface JobCpu {
  /** CPU seconds per job whatever its length (a sleep-bound job: ~13 ms). */
  perJobSeconds: number;
  /** Cores used while it runs (a CPU-bound job: 1). */
  coresWhileRunning: number;
}

/** Uploads through the upload API, as the real lab sends them. */
export interface UploadModel {
  /** Files arriving at the same time go in requests of at most this many. */
  filesPerRequest: number;
  /** Requests in flight at most. */
  inFlight: number;
  /** How long a request takes (its jobs are added when it ends): this, trace seconds… */
  requestSeconds: number;
  /** …plus this per file in it. */
  requestSecondsPerFile: number;
}

export interface SimConditions {
  /** Trace seconds per second of the sidecar's and the pods' clock (see the module comment). */
  speed: number;
  /** The sidecar's and workers' settings, on their clock. */
  sidecar: SidecarConditions;
  /** The shipped manifests, maybe with a larger maxReplicaCount (cluster scale). */
  manifests: ShippedManifests;
  /** Created → container started (image pull + container start). */
  podStart: Delay;
  /**
   * Container started → Ready (the worker's own start: connect, create the BullMQ worker). With
   * `machineCores`, pods starting at once share the cores: n of them take n ÷ cores times as long.
   */
  workerStartSeconds: number;
  /** A pod's first job runs this much longer (it starts the worker's extraction threads). */
  firstJobExtraSeconds: number;
  /** From a change of the queue to KEDA holding the sidecar's StreamIsActive value. */
  pushSeconds: number;
  /** The sidecar's QueueWatchers evaluates a queue at most this often, on its clock (250 ms). */
  watchMinIntervalSeconds: number;
  /** A worker gathers job ends for this long before it writes them, on its clock (100 ms). */
  flushDelaySeconds: number;
  /** UTILIZATION_WINDOW_SECONDS of the workers, on their clock. */
  utilizationWindowSeconds: number;
  /** WORKER_SERIES_LIMIT: the sidecar lists at most this many workers (the longest-running). */
  maxListedWorkers: number;
  /** Prometheus scrapes the sidecar this often for prometheus-adapter; 0: read directly. */
  adapterScrapeSeconds: number;
  /** Uploads through the API; undefined: each job is added when its file arrives. */
  uploads: UploadModel | undefined;
  cpu: JobCpu;
  /**
   * Cores every pod shares (the real lab's one machine): a job gets at most cores ÷ jobs running
   * on all pods. Undefined: each pod has its own (a cluster).
   */
  machineCores: number | undefined;
  /** The sidecar's restart after an outage (process start, first read), trace seconds. */
  sidecarRestartSeconds: number;
  /** Every policy is measured over the trace then this long. */
  tailSeconds: number;
  /** Seconds between two points of the kept timeline. */
  timelineStepSeconds: number;
  seed: number;
}

/** The shipped manifests with every upper bound (KEDA's, the HPAs', the fixed pool) at `max`. */
export function withMaxReplicas(manifests: ShippedManifests, max: number): ShippedManifests {
  const so = (m: ShippedManifests['keda']) => ({
    ...m,
    maxReplicaCount: max,
    options: { ...m.options, maxReplicaCount: max },
  });
  return {
    ...manifests,
    hpaCpu: { ...manifests.hpaCpu, maxReplicas: max },
    hpaExternal: { ...manifests.hpaExternal, maxReplicas: max },
    keda: so(manifests.keda),
    kedaPush: so(manifests.kedaPush),
  };
}
