import { describe, expect, it } from 'vitest';
import type { WorkerSnapshot } from '../src/queue/queue-snapshot.js';
import {
  MAX_POD_DELETION_COST,
  POD_DELETION_COST_ANNOTATION,
  podDeletionCost,
} from '../src/scaling/deletion-cost.js';

function worker(busy: number, concurrency = 4): WorkerSnapshot {
  return {
    id: 'qscale-worker-7d4b9c-x2x9q',
    concurrency,
    busy,
    busySeconds: 100,
    utilization: 0.5,
    completed: 10,
    failed: 0,
    cpuSeconds: 3,
    startedAt: 1_000,
    heartbeatAt: 2_000,
    oldestJobStartedAt: busy > 0 ? 1_500 : 0,
  };
}

describe('podDeletionCost', () => {
  it('should name the annotation the ReplicaSet controller reads', () => {
    expect(POD_DELETION_COST_ANNOTATION).toBe('controller.kubernetes.io/pod-deletion-cost');
  });

  it('should make an idle worker the cheapest to delete, like a pod without the annotation', () => {
    expect(podDeletionCost(worker(0))).toBe(0);
    expect(podDeletionCost(worker(0))).toBeLessThan(podDeletionCost(worker(1)));
  });

  it('should grow with every busy slot, whatever the concurrency', () => {
    const costs = [0, 1, 2, 3, 4].map((busy) => podDeletionCost(worker(busy)));
    expect(costs).toEqual([0, 1, 2, 3, 4]);
    // One job in flight costs the same on a 1-slot and a 16-slot worker: it is one job to lose.
    expect(podDeletionCost(worker(1, 1))).toBe(podDeletionCost(worker(1, 16)));
    expect(podDeletionCost(worker(2, 16))).toBeGreaterThan(podDeletionCost(worker(1, 1)));
  });

  it('should give a whole number within the int32 range for any input', () => {
    expect(podDeletionCost(worker(1e12))).toBe(MAX_POD_DELETION_COST);
    expect(podDeletionCost(worker(Infinity))).toBe(2_147_483_647);
    expect(podDeletionCost(worker(-3))).toBe(0);
    expect(podDeletionCost(worker(NaN))).toBe(0);
    expect(podDeletionCost(worker(2.4))).toBe(2);
    for (const busy of [0, 1, 7, 1e12, -1, NaN, 2.5]) {
      const cost = podDeletionCost(worker(busy));
      expect(Number.isInteger(cost)).toBe(true);
      expect(String(cost)).toMatch(/^\d+$/);
    }
  });
});
