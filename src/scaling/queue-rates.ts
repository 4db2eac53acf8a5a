import type { QueueSnapshot, Sample } from '../queue/queue-snapshot.js';

/** Flow through one queue, measured over the rate window. */
export interface QueueRates {
  /** Jobs enqueued per second; undefined until two samples span some time. */
  arrivalPerSecond?: number;
  /** Job attempts finished per second. */
  finishedPerSecond?: number;
  /**
   * Mean processing time of the attempts finished in the window, or of all attempts ever recorded
   * when none finished in the window; undefined when no attempt was ever recorded.
   */
  meanProcessingSeconds?: number;
}

interface Point {
  at: number;
  enqueued: number;
  finished: number;
  processingSum: number;
}

function pointOf(snapshot: QueueSnapshot): Point {
  const { completed, failed } = snapshot.processing;
  return {
    at: snapshot.sampledAt,
    enqueued: snapshot.enqueuedTotal,
    finished: completed.count + failed.count,
    processingSum: completed.sum + failed.sum,
  };
}

/**
 * Turns the cumulative counters of successive samples into rates over a sliding window, per queue.
 * Keeps at most one point per second per queue; memory is bounded by the window.
 */
export class RateTracker {
  private readonly windowMs: number;
  private readonly history = new Map<string, Point[]>();

  constructor(windowSeconds: number) {
    if (!(windowSeconds > 0))
      throw new RangeError(`windowSeconds must be > 0, got ${windowSeconds}`);
    this.windowMs = windowSeconds * 1000;
  }

  /** Records a sample (a sample already seen, or older than the last one, is ignored). */
  observe(sample: Sample): void {
    for (const snapshot of sample.queues) {
      const points = this.history.get(snapshot.queue) ?? [];
      const point = pointOf(snapshot);
      const last = points[points.length - 1];
      if (last && point.at - last.at < 1000) {
        if (point.at > last.at) points[points.length - 1] = point;
      } else {
        points.push(point);
      }
      // A counter that went down (keys deleted, Redis flushed) starts the history anew.
      if (last && (point.enqueued < last.enqueued || point.finished < last.finished)) {
        points.splice(0, points.length, point);
      }
      // Keep one point at or before the window start, to measure the whole window.
      while (points.length > 2 && points[1]!.at <= point.at - this.windowMs) points.shift();
      this.history.set(snapshot.queue, points);
    }
  }

  rates(snapshot: QueueSnapshot): QueueRates {
    const now = pointOf(snapshot);
    const points = this.history.get(snapshot.queue) ?? [];
    const from = points.find((p) => p.at >= now.at - this.windowMs && p.at < now.at) ?? points[0];
    const rates: QueueRates = {};
    const finishedInWindow = from ? now.finished - from.finished : 0;
    if (finishedInWindow > 0) {
      rates.meanProcessingSeconds = (now.processingSum - from!.processingSum) / finishedInWindow;
    } else if (now.finished > 0) {
      rates.meanProcessingSeconds = now.processingSum / now.finished;
    }
    if (from && now.at - from.at >= 1000) {
      const seconds = (now.at - from.at) / 1000;
      rates.arrivalPerSecond = Math.max(0, (now.enqueued - from.enqueued) / seconds);
      rates.finishedPerSecond = Math.max(0, finishedInWindow / seconds);
    }
    return rates;
  }
}
