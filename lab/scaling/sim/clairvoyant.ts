/**
 * The clairvoyant reference: a schedule built knowing every arrival and every job's length in
 * advance, with the same pod start-up and concurrency as the policies, in which every job starts
 * within the wait objective, at as few worker-seconds as the construction finds; and a true lower
 * bound of the worker-seconds any schedule meeting the objective needs.
 *
 * Construction, for each of a few variants (the cheapest valid one is kept):
 * 1. Jobs in arrival order go to a slot of a pod already planned when one is free before the
 *    job's deadline (arrival + objective) — slots already paid for — and start as soon as both the
 *    job and the slot are there. Which free slot: the one free earliest, the one free latest, or
 *    the latest among those free at once (packing work onto pods that are busy anyway).
 * 2. When none is free in time, a new pod is planned, ready at arrival + θ × objective (θ ∈ {0,
 *    ½, 1}: early readiness lets its slots take more of a burst, late readiness costs less).
 * 3. Each pod is created a start-up before its first job, and deleted as soon as all its slots are
 *    idle unless its next job comes sooner than a start-up would take (then it is kept idle, which
 *    costs less than a new pod); a pod deleted and needed again is a new pod, with a new start-up.
 */
import { percentile } from './sim-result.js';

export interface ClairvoyantInput {
  /** Every job: when it is added to the queue and how long it runs (trace seconds). */
  jobs: readonly { enqueuedAt: number; runSeconds: number }[];
  /** Created → Ready, seconds (the policies' pods' mean). */
  startupSeconds: number;
  concurrency: number;
  /** Every job starts within this long of being added. */
  objectiveSeconds: number;
  /**
   * Pods at most (maxReplicaCount): when they are all planned and no slot is free in time, a job
   * waits for the slot free first, past its deadline.
   * @defaultValue Infinity
   */
  maxPods?: number;
}

export interface ClairvoyantPlan {
  workerSeconds: number;
  /** Each pod's life: created a start-up before its first job, ended after its last. */
  pods: { createdAt: number; endedAt: number }[];
  /** Start time of each job, in the input's order. */
  starts: number[];
  waitP50: number | null;
  waitP95: number | null;
  waitMax: number | null;
  drainSeconds: number | null;
  /** Every job started within the objective (false only when `maxPods` ran out). */
  met: boolean;
  /** Which variant of the construction was kept. */
  variant: string;
}

type Pick = 'earliest' | 'latest' | 'packed';
const PICKS: readonly Pick[] = ['earliest', 'latest', 'packed'];
const THETAS = [0, 0.5, 1] as const;

/**
 * The cheapest plan over the variants that start every job within the objective; when none can
 * (`maxPods` too few), the one with the shortest p95 wait, then the cheapest.
 */
export function clairvoyant(input: ClairvoyantInput): ClairvoyantPlan {
  let best: ClairvoyantPlan | undefined;
  const better = (a: ClairvoyantPlan, b: ClairvoyantPlan) => {
    if (a.met !== b.met) return a.met;
    if (!a.met && a.waitP95 !== b.waitP95) return (a.waitP95 ?? 0) < (b.waitP95 ?? 0);
    return a.workerSeconds < b.workerSeconds;
  };
  for (const pick of PICKS) {
    for (const theta of THETAS) {
      const plan = planWith(input, pick, theta);
      if (!best || better(plan, best)) best = plan;
    }
  }
  return best!;
}

function planWith(input: ClairvoyantInput, pick: Pick, theta: number): ClairvoyantPlan {
  const { jobs, concurrency, objectiveSeconds: w, startupSeconds: d } = input;
  const maxPods = input.maxPods ?? Infinity;
  const order = jobs.map((_, i) => i).sort((x, y) => jobs[x]!.enqueuedAt - jobs[y]!.enqueuedAt);
  const freeAt: number[] = [];
  const podOfSlot: number[] = [];
  const podJobs: [number, number][][] = [];
  const starts = new Array<number>(jobs.length);
  for (const i of order) {
    const { enqueuedAt: a, runSeconds: r } = jobs[i]!;
    const deadline = a + w;
    let slot = -1;
    let immediate = -1;
    let first = -1;
    for (let s = 0; s < freeAt.length; s++) {
      const free = freeAt[s]!;
      if (first < 0 || free < freeAt[first]!) first = s;
      if (free > deadline) continue;
      if (pick === 'earliest') {
        if (slot < 0 || free < freeAt[slot]!) slot = s;
      } else if (pick === 'latest') {
        if (slot < 0 || free > freeAt[slot]!) slot = s;
      } else {
        if (slot < 0 || free < freeAt[slot]!) slot = s;
        if (free <= a && (immediate < 0 || free > freeAt[immediate]!)) immediate = s;
      }
    }
    if (immediate >= 0) slot = immediate;
    // Every pod planned already: the job waits for the slot free first.
    if (slot < 0 && podJobs.length >= maxPods) slot = first;
    let start: number;
    if (slot < 0) {
      const ready = a + theta * w;
      const pod = podJobs.length;
      podJobs.push([]);
      slot = freeAt.length;
      for (let k = 0; k < concurrency; k++) {
        freeAt.push(ready);
        podOfSlot.push(pod);
      }
      start = ready;
    } else {
      start = Math.max(a, freeAt[slot]!);
    }
    freeAt[slot] = start + r;
    podJobs[podOfSlot[slot]!]!.push([start, start + r]);
    starts[i] = start;
  }
  const pods: { createdAt: number; endedAt: number }[] = [];
  for (const intervals of podJobs) {
    intervals.sort((x, y) => x[0] - y[0]);
    let segmentStart = intervals[0]![0];
    let busyEnd = intervals[0]![1];
    for (const [start, end] of intervals.slice(1)) {
      if (start - busyEnd >= d) {
        pods.push({ createdAt: segmentStart - d, endedAt: busyEnd });
        segmentStart = start;
      }
      busyEnd = Math.max(busyEnd, end);
    }
    pods.push({ createdAt: segmentStart - d, endedAt: busyEnd });
  }
  const waits = jobs.map((job, i) => starts[i]! - job.enqueuedAt).sort((x, y) => x - y);
  const drain = jobs.reduce((max, job, i) => Math.max(max, starts[i]! + job.runSeconds), 0);
  return {
    workerSeconds: pods.reduce((sum, p) => sum + p.endedAt - p.createdAt, 0),
    pods,
    starts,
    waitP50: percentile(waits, 0.5),
    waitP95: percentile(waits, 0.95),
    waitMax: waits[waits.length - 1] ?? null,
    drainSeconds: jobs.length > 0 ? drain : null,
    met: (waits[waits.length - 1] ?? 0) <= w + 1e-9,
    variant: `${pick} slot, new pods ready at arrival + ${theta} × objective`,
  };
}

/**
 * A true lower bound of the worker-seconds of any schedule, from zero pods, in which every job
 * starts within the objective: the slots must hold every job-second (job-seconds ÷ concurrency of
 * pod time), and every pod pays a start-up before it runs anything. A job longer than the
 * objective must be running from its deadline (arrival + objective) to arrival + its length,
 * whenever it started; the most such jobs at one instant need that many slots at once, so at
 * least that many ÷ concurrency pods, each with its start-up (and at least one pod for any work).
 */
export function lowerBound(input: ClairvoyantInput): number {
  const { jobs, concurrency, objectiveSeconds: w, startupSeconds: d } = input;
  if (jobs.length === 0) return 0;
  const jobSeconds = jobs.reduce((sum, job) => sum + job.runSeconds, 0);
  const edges: [number, number][] = [];
  for (const job of jobs) {
    if (job.runSeconds > w) {
      edges.push([job.enqueuedAt + w, 1], [job.enqueuedAt + job.runSeconds, -1]);
    }
  }
  // Ends before starts at the same instant: the intervals are half-open.
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let running = 0;
  let most = 0;
  for (const [, delta] of edges) {
    running += delta;
    most = Math.max(most, running);
  }
  const pods = Math.min(input.maxPods ?? Infinity, Math.max(1, Math.ceil(most / concurrency)));
  return jobSeconds / concurrency + d * pods;
}
