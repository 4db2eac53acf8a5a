import { workerTotals, type QueueSnapshot, type Sample } from '../queue/queue-snapshot.js';

/** What an earlier life of a queue left behind (the sidecar's stored history of it). */
export interface QueuePrior {
  /** Mean processing time of the jobs last measured, in seconds. */
  processingSeconds?: number;
  /** Jobs one worker ran at once, on average, when last measured. */
  concurrency?: number;
}

/**
 * What the jobs of a queue cost, measured over the processing span (the rate window, stretched
 * back up to 5 windows until it holds 20 finished attempts): the basis of the sizing's estimate.
 */
export interface ProcessingExposure {
  /** Attempts finished in the span. */
  finished: number;
  /** Their processing time, summed. */
  processingSeconds: number;
  /**
   * Busy slot-seconds in the span: the time every slot spent on a job, finished or still
   * running (the running ones count as far as they got). Over a steady stream, ÷ finished gives
   * the mean job time (Little's law); while long jobs are still running it is the better estimate.
   */
  busySlotSeconds: number;
  /** How long the span is, in seconds. */
  seconds: number;
}

/** Flow through one queue, measured over the rate window. */
export interface QueueRates {
  /**
   * Jobs arriving per second; undefined until samples span 3 of the window's 40 slices (9 s at the
   * default 120 s). The window's rate with its two busiest slices trimmed to the third (a one-off
   * burst counts as a backlog, not as a rate); or, when the last three slices all brought more
   * than that rate explains beyond Poisson noise, the rate they kept: a step up shows within 9 s.
   */
  arrivalPerSecond?: number;
  /** Job attempts finished per second. */
  finishedPerSecond?: number;
  /**
   * Mean processing time of the attempts finished in the window, or of all attempts ever recorded
   * when none finished in the window; undefined when no attempt was ever recorded.
   */
  meanProcessingSeconds?: number;
  /** Mean processing time of every attempt ever recorded; undefined when none was. */
  allTimeProcessingSeconds?: number;
  /** Finished attempts and busy slot-seconds over the processing span. */
  exposure?: ProcessingExposure;
  /** What the stored history says of this queue, when the sidecar read one. */
  prior?: QueuePrior;
}

interface Point {
  at: number;
  enqueued: number;
  finished: number;
  processingSum: number;
  /** Busy slot-seconds since the tracker first saw the queue (its own running integral). */
  busySlotSeconds: number;
}

/** A queue's kept points and the running integral of its busy slots. */
interface QueueTrack {
  points: Point[];
  /** The latest sample's time and busy slots, and the integral up to it. */
  at: number;
  busy: number;
  busySlotSeconds: number;
}

function pointOf(snapshot: QueueSnapshot, track: QueueTrack | undefined): Point {
  const { completed, failed } = snapshot.processing;
  const at = snapshot.sampledAt;
  // Busy slots stay as last sampled until the next sample (the same rule the integral uses).
  const busySlotSeconds = track
    ? track.busySlotSeconds + (track.busy * Math.max(0, at - track.at)) / 1000
    : 0;
  return {
    at,
    enqueued: snapshot.enqueuedTotal,
    finished: completed.count + failed.count,
    processingSum: completed.sum + failed.sum,
    busySlotSeconds,
  };
}

/** The window is cut into this many slices for the arrival rate. */
export const RATE_SLICES = 40;
/** Points are kept at least window / this apart. */
const POINTS_PER_WINDOW = 60;

/** The cumulative arrivals at `at`, linear between the two points around it. */
function arrivalsAt(points: readonly Point[], at: number): number {
  let i = points.length - 1;
  while (i > 0 && points[i - 1]!.at >= at) i--;
  const after = points[i]!;
  const before = points[i - 1];
  if (!before || after.at <= at || after.at === before.at) return after.enqueued;
  const share = (at - before.at) / (after.at - before.at);
  return before.enqueued + share * (after.enqueued - before.enqueued);
}

/**
 * The arrival rate over `points` (ascending, the last one now): see {@link QueueRates.arrivalPerSecond}.
 * Slices are counted back from now; a shorter slice left at the oldest end counts in the total only.
 * Undefined while the points span fewer than 3 slices (a burst and a rate look the same then); with
 * 3 to 5 slices the window's rate is the median slice's.
 */
export function arrivalRate(points: readonly Point[], sliceMs: number): number | undefined {
  const first = points[0]!;
  const now = points[points.length - 1]!;
  const slices: number[] = [];
  for (let end = now.at; end - sliceMs >= first.at - 1e-6; end -= sliceMs) {
    slices.push(Math.max(0, arrivalsAt(points, end) - arrivalsAt(points, end - sliceMs)));
  }
  if (slices.length < 3) return undefined;
  const sliceSeconds = sliceMs / 1000;
  const sorted = [...slices].sort((x, y) => y - x);
  let windowRate: number;
  if (slices.length < 6) {
    windowRate = sorted[Math.floor(sorted.length / 2)]! / sliceSeconds;
  } else {
    const total =
      Math.max(0, now.enqueued - first.enqueued) -
      (sorted[0]! - sorted[2]!) -
      (sorted[1]! - sorted[2]!);
    windowRate = total / ((now.at - first.at) / 1000);
  }
  // A step up: the last three slices (slices[0..2], counted back from now) all above what the
  // window's rate explains, beyond Poisson noise (2 standard deviations, and 1 more arrival for
  // the rates that bring a few jobs a slice).
  const expected = windowRate * sliceSeconds;
  const kept = Math.min(slices[0]!, slices[1]!, slices[2]!);
  if (kept >= expected + 2 * Math.sqrt(expected) + 1)
    return Math.max(windowRate, kept / sliceSeconds);
  return windowRate;
}

/** The processing span holds at least this many finished attempts, when the points allow. */
const SPAN_FINISHED = 20;
/** …and stretches back at most this many rate windows. */
const SPAN_WINDOWS = 5;

/**
 * Turns the cumulative counters of successive samples into rates over a sliding window, per queue.
 * Keeps at most one point per window / 60 per queue, for at most 5 windows: memory is bounded.
 */
export class RateTracker {
  private readonly windowMs: number;
  private readonly tracks = new Map<string, QueueTrack>();
  private readonly priors = new Map<string, QueuePrior>();

  constructor(windowSeconds: number) {
    if (!(windowSeconds > 0))
      throw new RangeError(`windowSeconds must be > 0, got ${windowSeconds}`);
    this.windowMs = windowSeconds * 1000;
  }

  /** The least time between two kept points, in ms. */
  get resolutionMs(): number {
    return this.windowMs / POINTS_PER_WINDOW;
  }

  /** Records a sample (a sample already seen, or older than the last one, is ignored). */
  observe(sample: Sample): void {
    for (const snapshot of sample.queues) {
      let track = this.tracks.get(snapshot.queue);
      if (track && snapshot.sampledAt <= track.at) continue;
      const point = pointOf(snapshot, track);
      if (!track) {
        track = { points: [], at: 0, busy: 0, busySlotSeconds: 0 };
        this.tracks.set(snapshot.queue, track);
      }
      track.at = point.at;
      track.busy = workerTotals(snapshot).busy;
      track.busySlotSeconds = point.busySlotSeconds;
      const points = track.points;
      const last = points[points.length - 1];
      const beforeLast = points[points.length - 2];
      // The newest point moves along until it is a resolution past the one before it: samples
      // that come faster than that still leave points a resolution apart.
      if (beforeLast && point.at - beforeLast.at < this.resolutionMs) {
        points[points.length - 1] = point;
      } else {
        points.push(point);
      }
      // A counter that went down (keys deleted, Redis flushed) starts the history anew.
      if (last && (point.enqueued < last.enqueued || point.finished < last.finished)) {
        points.splice(0, points.length, point);
      }
      // Keep one point at or before the oldest span start, to measure the whole of it.
      const keep = this.windowMs * SPAN_WINDOWS;
      while (points.length > 2 && points[1]!.at <= point.at - keep) points.shift();
    }
  }

  /** Remembers what the stored history says of a queue (handed out with its rates). */
  remember(queue: string, prior: QueuePrior): void {
    this.priors.set(queue, prior);
  }

  rates(snapshot: QueueSnapshot): QueueRates {
    const track = this.tracks.get(snapshot.queue);
    const now = pointOf(snapshot, track);
    const points = (track?.points ?? []).filter((p) => p.at < now.at);
    const start = points.findIndex((p) => p.at >= now.at - this.windowMs);
    const from = start >= 0 ? points[start] : points[points.length - 1];
    const rates: QueueRates = {};
    const prior = this.priors.get(snapshot.queue);
    if (prior) rates.prior = prior;
    if (now.finished > 0) rates.allTimeProcessingSeconds = now.processingSum / now.finished;
    const finishedInWindow = from ? now.finished - from.finished : 0;
    if (finishedInWindow > 0) {
      rates.meanProcessingSeconds = (now.processingSum - from!.processingSum) / finishedInWindow;
    } else if (now.finished > 0) {
      rates.meanProcessingSeconds = rates.allTimeProcessingSeconds;
    }
    if (from) {
      // The processing span: the window, stretched back until it holds enough finished attempts.
      let i = start >= 0 ? start : points.length - 1;
      const oldest = now.at - this.windowMs * SPAN_WINDOWS;
      while (
        i > 0 &&
        now.finished - points[i]!.finished < SPAN_FINISHED &&
        points[i - 1]!.at >= oldest
      ) {
        i--;
      }
      const spanFrom = points[i]!;
      if (now.at > spanFrom.at) {
        rates.exposure = {
          finished: now.finished - spanFrom.finished,
          processingSeconds: now.processingSum - spanFrom.processingSum,
          busySlotSeconds: now.busySlotSeconds - spanFrom.busySlotSeconds,
          seconds: (now.at - spanFrom.at) / 1000,
        };
      }
    }
    if (from && now.at - from.at >= Math.min(1000, this.resolutionMs * 2)) {
      const seconds = (now.at - from.at) / 1000;
      const inWindow = start >= 0 ? points.slice(start) : [from];
      const arrival = arrivalRate([...inWindow, now], this.windowMs / RATE_SLICES);
      if (arrival !== undefined) rates.arrivalPerSecond = arrival;
      rates.finishedPerSecond = Math.max(0, finishedInWindow / seconds);
    }
    return rates;
  }
}
