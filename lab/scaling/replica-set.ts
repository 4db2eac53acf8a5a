/**
 * Which pods a ReplicaSet deletes when it scales in: a port of the ordering of Kubernetes'
 * `ActivePodsWithRanks.Less` (pkg/controller/controller_utils.go), which the ReplicaSet controller
 * sorts by before it deletes the first `count` pods (pkg/controller/replicaset/replica_set.go
 * `getPodsToDelete`). The pods that sort first are deleted first:
 *
 * 1. not scheduled to a node before scheduled;
 * 2. phase Pending before Unknown before Running;
 * 3. not ready before ready;
 * 4. lower `controller.kubernetes.io/pod-deletion-cost` before higher (feature PodDeletionCost,
 *    on by default since Kubernetes 1.22);
 * 5. more active pods of the same ReplicaSet on the same node before fewer ("doubled up");
 * 6. both ready: ready more recently before ready longer, compared on a log2 scale of the time since
 *    (feature LogarithmicScaleDown, on by default since 1.22), ties broken by UID;
 * 7. more container restarts before fewer;
 * 8. created more recently before older, on the same log2 scale, ties broken by UID.
 */

/** What the ordering reads of one pod. Times are epoch ms; 0 stands for "not set". */
export interface RankedPod {
  uid: string;
  /** Empty when not scheduled yet. */
  nodeName: string;
  phase: 'Pending' | 'Unknown' | 'Running';
  ready: boolean;
  /** When the pod last became ready (its Ready condition's lastTransitionTime); 0 if not ready. */
  readySince: number;
  /** The `controller.kubernetes.io/pod-deletion-cost` annotation (0 when absent or invalid). */
  deletionCost: number;
  restarts: number;
  createdAt: number;
}

const PHASE_ORDINAL: Record<RankedPod['phase'], number> = { Pending: 0, Unknown: 1, Running: 2 };

/** `t1` after `t2`, where an unset time (0) comes first (upstream `afterOrZero`). */
function afterOrZero(t1: number, t2: number): boolean {
  if (t1 === 0 || t2 === 0) return t1 === 0;
  return t1 > t2;
}

/** floor(log2(now − t1 in ns)) − floor(log2(now − t2 in ns)), −1 for times not in the past. */
function logarithmicRankDiff(t1: number, t2: number, now: number): number {
  const rank = (t: number) => {
    const ns = (now - t) * 1e6;
    return ns > 0 ? Math.floor(Math.log2(ns)) : -1;
  };
  return rank(t1) - rank(t2);
}

/** Compares two timestamps as rule 6 and rule 8 do: newer first, on a log2 scale of age. */
function newerFirst(
  a: RankedPod,
  b: RankedPod,
  ta: number,
  tb: number,
  now: number,
): boolean | undefined {
  if (ta === tb) return undefined;
  if (now === 0 || ta === 0 || tb === 0) return afterOrZero(ta, tb);
  const diff = logarithmicRankDiff(ta, tb, now);
  if (diff === 0) return a.uid < b.uid;
  return diff < 0;
}

/**
 * True when `a` is preferred for deletion over `b`. `rankA`/`rankB` are each pod's number of active
 * pods of the ReplicaSet on its node (rule 5); `now` is the reference time of the log2 comparisons.
 */
export function deleteBefore(
  a: RankedPod,
  b: RankedPod,
  now: number,
  rankA = 0,
  rankB = 0,
): boolean {
  if (a.nodeName !== b.nodeName && (a.nodeName === '' || b.nodeName === '')) {
    return a.nodeName === '';
  }
  if (PHASE_ORDINAL[a.phase] !== PHASE_ORDINAL[b.phase]) {
    return PHASE_ORDINAL[a.phase] < PHASE_ORDINAL[b.phase];
  }
  if (a.ready !== b.ready) return !a.ready;
  if (a.deletionCost !== b.deletionCost) return a.deletionCost < b.deletionCost;
  if (rankA !== rankB) return rankA > rankB;
  if (a.ready && b.ready) {
    const byReady = newerFirst(a, b, a.readySince, b.readySince, now);
    if (byReady !== undefined) return byReady;
  }
  if (a.restarts !== b.restarts) return a.restarts > b.restarts;
  return newerFirst(a, b, a.createdAt, b.createdAt, now) ?? false;
}

/** The `count` pods a ReplicaSet scaling in by `count` deletes, in the order it picks them. */
export function podsToDelete(pods: readonly RankedPod[], count: number, now: number): RankedPod[] {
  if (count <= 0) return [];
  // Rule 5's rank: the active pods of the set on the same node.
  const onNode = new Map<string, number>();
  for (const pod of pods) onNode.set(pod.nodeName, (onNode.get(pod.nodeName) ?? 0) + 1);
  const ranked = pods.map((pod) => ({ pod, rank: onNode.get(pod.nodeName) ?? 0 }));
  ranked.sort((x, y) => {
    if (deleteBefore(x.pod, y.pod, now, x.rank, y.rank)) return -1;
    if (deleteBefore(y.pod, x.pod, now, y.rank, x.rank)) return 1;
    return 0;
  });
  return ranked.slice(0, Math.min(count, ranked.length)).map(({ pod }) => pod);
}
