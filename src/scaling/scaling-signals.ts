import type { QueueSnapshot, Sample } from '../queue/queue-snapshot.js';
import { RateTracker, type QueuePrior, type QueueRates } from './queue-rates.js';

/** One queue's snapshot with the rates measured up to it. */
export interface QueueSignal {
  snapshot: QueueSnapshot;
  rates: QueueRates;
}

/**
 * Where samples come from: the {@link QueueSampler} (Redis) in the sidecar, a simulated cluster in
 * the scaling lab's simulator.
 */
export interface SampleSource {
  /** A sample no older than `maxAgeMs` when given. */
  sample(options?: { maxAgeMs?: number }): Promise<Sample>;
}

/**
 * The shared source of scaling inputs: samples from the {@link QueueSampler} (one Redis round trip
 * per SAMPLE_TTL_MS, however many callers) plus the rates measured across them. The exporter, the
 * KEDA scaler and the local autoscaler read through one instance.
 */
export class ScalingSignals {
  readonly sampler: SampleSource;
  private readonly tracker: RateTracker;

  constructor(sampler: SampleSource, rateWindowSeconds: number) {
    this.sampler = sampler;
    this.tracker = new RateTracker(rateWindowSeconds);
  }

  /** The latest sample read through {@link read}, by anyone. */
  latest?: Sample;

  /** When a scaling decision last read (epoch ms; 0: never): see {@link read}'s `forScaling`. */
  scalingReadAt = 0;

  /**
   * A sample (no older than `maxAgeMs` when given), recorded for the rates. `forScaling`: a scaling
   * decision reads it (KEDA's scaler), so the sidecar keeps the rates' points regular for a while.
   */
  async read(options: { maxAgeMs?: number; forScaling?: boolean } = {}): Promise<Sample> {
    if (options.forScaling) this.scalingReadAt = Date.now();
    const sample = await this.sampler.sample(
      options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs },
    );
    this.tracker.observe(sample);
    this.latest = sample;
    return sample;
  }

  /**
   * How often the rates need a point for the arrival rate to see a step within seconds: 30 points
   * a window (2 s at the default 60 s window).
   */
  get regularReadMs(): number {
    return this.tracker.resolutionMs * 2;
  }

  /** Remembers what a queue's stored history says (its rates carry it as `prior`). */
  remember(queue: string, prior: QueuePrior): void {
    this.tracker.remember(queue, prior);
  }

  /** Arrival rate and mean processing time of a queue up to `snapshot`. */
  rates(snapshot: QueueSnapshot): QueueRates {
    return this.tracker.rates(snapshot);
  }

  /** The signal of one queue in a sample; undefined when the queue is not sampled. */
  signal(sample: Sample, queue: string): QueueSignal | undefined {
    const snapshot = sample.queues.find((q) => q.queue === queue);
    return snapshot && { snapshot, rates: this.tracker.rates(snapshot) };
  }
}
