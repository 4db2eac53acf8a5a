import type { SimJob } from './sim-job.js';

/** What the sidecar last heard from a worker (its heartbeat or its last flush of job ends). */
export interface ReportedWorker {
  busy: number;
  /** Start of its longest-running job, trace seconds; NaN when idle. */
  oldestJobStartedAt: number;
  /** Cumulative busy slot-seconds, on the pods' clock. */
  busySeconds: number;
  utilization: number;
  completed: number;
  /** Trace seconds. */
  heartbeatAt: number;
}

/** One worker pod of a simulated Deployment; times are trace seconds (NaN: not yet). */
export interface SimPod {
  name: string;
  createdAt: number;
  /** Container started: phase Running. */
  containerAt: number;
  /** Ready: the worker takes jobs. */
  readyAt: number;
  /** Chosen for deletion by a scale-in. */
  terminatingAt: number;
  endedAt: number;
  killed: boolean;
  concurrency: number;
  running: SimJob[];
  /** CPU seconds (pods' clock) it used up to `cpuAccruedAt`. */
  cpuDone: number;
  cpuAccruedAt: number;
  /** Busy slot-seconds (pods' clock) up to `busyAccruedAt`. */
  busySeconds: number;
  busyAccruedAt: number;
  completed: number;
  /** It started a job already (its first one runs longer, see `firstJobExtraSeconds`). */
  startedJob: boolean;
  /** Set from the worker's first heartbeat (when it is ready) until it ends. */
  reported: ReportedWorker | undefined;
  /** (trace time, busySeconds) at its heartbeats within the utilization window. */
  heartbeats: { at: number; busySeconds: number }[];
  /** Job ends not written yet, and whether a flush is due. */
  pending: { processing: number[]; wait: number[] };
  flushDue: boolean;
}

export function simPod(name: string, createdAt: number, concurrency: number): SimPod {
  return {
    name,
    createdAt,
    containerAt: NaN,
    readyAt: NaN,
    terminatingAt: NaN,
    endedAt: NaN,
    killed: false,
    concurrency,
    running: [],
    cpuDone: 0,
    cpuAccruedAt: createdAt,
    busySeconds: 0,
    busyAccruedAt: createdAt,
    completed: 0,
    startedJob: false,
    reported: undefined,
    heartbeats: [],
    pending: { processing: [], wait: [] },
    flushDue: false,
  };
}

/** Not chosen for deletion and not ended: what the ReplicaSet counts. */
export const isLive = (pod: SimPod) => Number.isNaN(pod.terminatingAt) && Number.isNaN(pod.endedAt);

export const isReady = (pod: SimPod) => !Number.isNaN(pod.readyAt) && isLive(pod);

export const hasEnded = (pod: SimPod) => !Number.isNaN(pod.endedAt);
