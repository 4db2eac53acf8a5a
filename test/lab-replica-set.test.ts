import { describe, expect, it } from 'vitest';
import { deleteBefore, podsToDelete, type RankedPod } from '../lab/scaling/replica-set.js';

const HOUR = 3_600_000;
const now = Date.UTC(2026, 11, 1, 12);
const oneMonthAgo = Date.UTC(2026, 10, 1, 12);

/** The pods of upstream's TestSortingActivePodsWithRanks (pkg/controller/controller_utils_test.go). */
function pod(
  uid: string,
  nodeName: string,
  phase: RankedPod['phase'],
  ready: boolean,
  restarts: number,
  readySince: number,
  createdAt: number,
  deletionCost = 0,
): RankedPod {
  return {
    uid,
    nodeName,
    phase,
    ready,
    readySince: ready ? readySince : 0,
    deletionCost,
    restarts,
    createdAt,
  };
}

const unscheduled = pod('unscheduled', '', 'Pending', false, 0, 0, 0);
const scheduledPending = pod('pending', 'node', 'Pending', false, 0, 0, 0);
const unknownPhase = pod('unknown-phase', 'node', 'Unknown', false, 0, 0, 0);
const runningNotReady = pod('not-ready', 'node', 'Running', false, 0, 0, 0);
const readyNoTransitionTime = pod(
  'ready-no-last-transition-time',
  'node',
  'Running',
  true,
  0,
  0,
  0,
);
const readyNow = pod('ready-now', 'node', 'Running', true, 0, now, now);
const readyThen = pod('ready-then', 'node', 'Running', true, 0, oneMonthAgo, oneMonthAgo);
const readyNowHighRestarts = pod('ready-high-restarts', 'node', 'Running', true, 9001, now, now);
const readyNowCreatedThen = pod(
  'ready-now-created-then',
  'node',
  'Running',
  true,
  0,
  now,
  oneMonthAgo,
);
const lowCost = pod('low-deletion-cost', 'node', 'Running', true, 0, now, oneMonthAgo, 10);
const highCost = pod('high-deletion-cost', 'node', 'Running', true, 0, now, oneMonthAgo, 100);
const ready2Hours = pod('', '', 'Running', true, 0, now - 2 * HOUR, oneMonthAgo);
const ready5Hours = pod('', '', 'Running', true, 0, now - 5 * HOUR, oneMonthAgo);
const ready8Hours = pod('', '', 'Running', true, 0, now - 8 * HOUR, oneMonthAgo);

describe('the ReplicaSet scale-in order (port of ActivePodsWithRanks.Less)', () => {
  // Mirrors the "inequality tests" of TestSortingActivePodsWithRanks: [lesser, rank, greater, rank].
  const inequalities: [RankedPod, number, RankedPod, number][] = [
    [unscheduled, 1, scheduledPending, 2],
    [unscheduled, 2, scheduledPending, 1],
    [scheduledPending, 1, unknownPhase, 2],
    [unknownPhase, 1, runningNotReady, 2],
    [runningNotReady, 1, readyNoTransitionTime, 1],
    [readyNoTransitionTime, 1, readyNow, 1],
    [readyNow, 2, readyNoTransitionTime, 1],
    [readyNow, 1, readyThen, 1],
    [readyNow, 2, readyThen, 1],
    [readyNowHighRestarts, 1, readyNow, 1],
    [readyNow, 2, readyNowHighRestarts, 1],
    [readyNow, 1, readyNowCreatedThen, 1],
    [readyNowCreatedThen, 2, readyNow, 1],
    [lowCost, 2, highCost, 1],
    [ready2Hours, 1, ready5Hours, 1],
  ];
  it.each(inequalities.map((c, i) => [i, ...c] as const))(
    'inequality %i: the first pod goes first',
    (_i, lesser, lesserRank, greater, greaterRank) => {
      expect(deleteBefore(lesser, greater, now, lesserRank, greaterRank)).toBe(true);
      expect(deleteBefore(greater, lesser, now, greaterRank, lesserRank)).toBe(false);
    },
  );

  it('should treat as equal what upstream treats as equal (its "equality tests")', () => {
    for (const p of [
      unscheduled,
      scheduledPending,
      unknownPhase,
      runningNotReady,
      readyNow,
      readyThen,
    ]) {
      expect(deleteBefore(p, p, now, 1, 1)).toBe(false);
    }
    // 5 and 8 hours ready fall in the same log2 bucket of nanoseconds: equal (same empty UID).
    expect(deleteBefore(ready5Hours, ready8Hours, now, 1, 1)).toBe(false);
    expect(deleteBefore(ready8Hours, ready5Hours, now, 1, 1)).toBe(false);
  });

  it('should delete the idle worker pods (deletion cost 0) before busy ones (cost = busy slots)', () => {
    const worker = (uid: string, busy: number, readyHoursAgo: number) =>
      pod(
        uid,
        'node-a',
        'Running',
        true,
        0,
        now - readyHoursAgo * HOUR,
        now - readyHoursAgo * HOUR,
        busy,
      );
    const pods = [
      worker('busy-old', 2, 5),
      worker('idle-new', 0, 0.1),
      worker('busy-new', 1, 0.1),
      worker('idle-old', 0, 5),
    ];
    expect(podsToDelete(pods, 2, now).map((p) => p.uid)).toEqual(['idle-new', 'idle-old']);
    // Without costs the newest pods go first, busy or not: what the annotation prevents.
    const noCost = pods.map((p) => ({ ...p, deletionCost: 0 }));
    expect(
      podsToDelete(noCost, 2, now)
        .map((p) => p.uid)
        .sort(),
    ).toEqual(['busy-new', 'idle-new']);
    expect(podsToDelete(pods, 0, now)).toEqual([]);
  });
});
