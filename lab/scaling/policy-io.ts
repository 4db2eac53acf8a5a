/**
 * What a scaling policy of the lab reads of the cluster and the queue: the real lab answers over
 * gRPC, HTTP and Redis (`run.ts`), the simulator from its own state (`sim/sim-io.ts`). Times are
 * trace time: ms since the trace started.
 */
import type { KedaScalerRead } from './keda.js';

/** One live (not terminating) worker pod, as the HPA and metrics-server see it. */
export interface PodView {
  name: string;
  /** Its container started (phase Running); Pending before. */
  running: boolean;
  /** Creation time, trace ms. */
  createdAt: number;
  /** When it became Ready, trace ms; undefined while it is not. */
  readySince?: number;
  /**
   * CPU seconds its container used since it started, measured on the clock the pods run on (real
   * seconds in the real lab: trace seconds ÷ its speed).
   */
  cpuSeconds(): number;
}

/** The reads a policy makes; each may reject or answer an error, as the real one can. */
export interface PolicyIo {
  /** `spec.replicas` of the worker Deployment. */
  replicas(): number;
  /** The live pods of the Deployment. */
  pods(): PodView[];
  /** `qscale_queue_length` (the backlog) as prometheus-adapter serves it; rejects when unread. */
  queueLength(): Promise<number>;
  /** `qscale_queue_desired_workers` as prometheus-adapter serves it; rejects when unread. */
  desiredWorkers(): Promise<number>;
  /** LLEN of the queue's wait list, as KEDA's `redis` scaler reads it. */
  waitListLength(): Promise<number>;
  /** The sidecar's GetMetrics then IsActive for one trigger's metadata, as KEDA calls them. */
  scaler(metadata: Record<string, string>): Promise<KedaScalerRead>;
  /**
   * KEDA's `external-push` stream (StreamIsActive) on one trigger: `onTrue` for each `true` the
   * sidecar sends, reconnecting as KEDA does. Returns the function that closes it.
   */
  streamIsActive(metadata: Record<string, string>, onTrue: () => void): () => void;
}
