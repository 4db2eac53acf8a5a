import type { WorkerSnapshot } from '../queue/queue-snapshot.js';

/**
 * The pod annotation the ReplicaSet controller reads when it scales down: among pods otherwise
 * alike, the ones with the lower cost are deleted first. Its value is a decimal int32 string; a pod
 * without it counts as 0.
 */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

/** The annotation's upper bound: it is a signed 32-bit integer. */
export const MAX_POD_DELETION_COST = 2 ** 31 - 1;

/**
 * What deleting this worker's pod would cost: the number of jobs it is running now (its busy slots
 * at the last heartbeat).
 *
 * - An idle worker costs 0, the same as a pod without the annotation, so idle workers go first.
 * - Each running job adds 1: a worker with fewer jobs in flight is deleted before one with more, so
 *   a scale-down interrupts (or, with a graceful drain, waits for) as few jobs as possible.
 * - Nothing else enters the formula (utilization, job age, concurrency): the value changes only when
 *   a job starts or ends, which keeps the number of pod patches low.
 *
 * The result is a whole number from 0 to {@link MAX_POD_DELETION_COST} (the annotation's int32
 * range, never negative): fractions are rounded, NaN and negative counts are idle, anything above
 * the range is clamped to it.
 */
export function podDeletionCost(worker: Pick<WorkerSnapshot, 'busy'>): number {
  const busy = Number.isNaN(worker.busy) ? 0 : Math.round(worker.busy);
  return Math.min(MAX_POD_DELETION_COST, Math.max(0, busy));
}
