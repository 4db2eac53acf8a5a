import type { Logger } from '../config/logger.js';
import type { QueueSnapshot, Sample } from '../queue/queue-snapshot.js';
import type { QueueRates } from '../scaling/queue-rates.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';

/**
 * What the collectors of one scrape read: the sample {@link refresh} fetched, or nothing when
 * Redis could not be read in time (then only `qscale_redis_up 0` and the exporter's own series are
 * reported — no stale numbers presented as current).
 */
export class ScrapeSource {
  private readonly signals: ScalingSignals;
  private readonly logger: Logger;
  /** The sample of the latest scrape; undefined after a failed one. */
  sample?: Sample;
  /** Scrapes whose Redis read failed or timed out. */
  errorsTotal = 0;
  private failing = false;

  constructor(signals: ScalingSignals, logger: Logger) {
    this.signals = signals;
    this.logger = logger;
  }

  /** Reads the queues (shared with concurrent readers, cached for SAMPLE_TTL_MS). Never throws. */
  async refresh(): Promise<void> {
    try {
      this.sample = await this.signals.read();
    } catch (error) {
      // Warn once when reads start failing, not on every scrape of an outage.
      const level = this.failing ? 'debug' : 'warn';
      this.failing = true;
      this.sample = undefined;
      this.errorsTotal++;
      this.logger[level]({ err: error }, 'scrape could not read Redis');
      return;
    }
    if (this.failing) this.logger.info('scrape reads Redis again');
    this.failing = false;
  }

  /** Arrival rate and mean processing time of a queue up to its snapshot. */
  rates(snapshot: QueueSnapshot): QueueRates {
    return this.signals.rates(snapshot);
  }
}
