import type { QueueSampler } from '../queue/queue-sampler.js';
import type { QueueSnapshot, Sample } from '../queue/queue-snapshot.js';
import { RateTracker, type QueueRates } from './queue-rates.js';

/** One queue's snapshot with the rates measured up to it. */
export interface QueueSignal {
  snapshot: QueueSnapshot;
  rates: QueueRates;
}

/**
 * The shared source of scaling inputs: samples from the {@link QueueSampler} (one Redis round trip
 * per SAMPLE_TTL_MS, however many callers) plus the rates measured across them. The exporter, the
 * KEDA scaler and the local autoscaler read through one instance.
 */
export class ScalingSignals {
  readonly sampler: QueueSampler;
  private readonly tracker: RateTracker;

  constructor(sampler: QueueSampler, rateWindowSeconds: number) {
    this.sampler = sampler;
    this.tracker = new RateTracker(rateWindowSeconds);
  }

  /** The latest sample read through {@link read}, by anyone. */
  latest?: Sample;

  /** A sample (no older than `maxAgeMs` when given), recorded for the rates. */
  async read(options: { maxAgeMs?: number } = {}): Promise<Sample> {
    const sample = await this.sampler.sample(options);
    this.tracker.observe(sample);
    this.latest = sample;
    return sample;
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
