import type {
  HistogramSnapshot,
  QueueSnapshot,
  WorkerSnapshot,
} from '../src/queue/queue-snapshot.js';

/** An empty histogram. */
export const emptyHistogram = (): HistogramSnapshot => ({ count: 0, sum: 0, buckets: new Map() });

/** A queue snapshot with nothing in it, for unit tests of code that reads snapshots. */
export function queueSnapshot(overrides: Partial<QueueSnapshot> = {}): QueueSnapshot {
  return {
    queue: 'q',
    sampledAt: 0,
    counts: {
      wait: 0,
      paused: 0,
      prioritized: 0,
      active: 0,
      delayed: 0,
      'waiting-children': 0,
      completed: 0,
      failed: 0,
    },
    delayedDue: 0,
    backlog: 0,
    oldestJobAgeSeconds: 0,
    paused: false,
    enqueuedTotal: 0,
    workers: [],
    processing: { completed: emptyHistogram(), failed: emptyHistogram() },
    wait: emptyHistogram(),
    ...overrides,
  };
}

/** A live worker's heartbeat. */
export function workerSnapshot(id: string, busy: number, concurrency = 2): WorkerSnapshot {
  return {
    id,
    concurrency,
    busy,
    busySeconds: 0,
    utilization: 0,
    completed: 0,
    failed: 0,
    cpuSeconds: 0,
    startedAt: 0,
    heartbeatAt: 0,
    oldestJobStartedAt: 0,
  };
}
