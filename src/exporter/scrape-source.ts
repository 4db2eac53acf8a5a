import type { Logger } from '../config/logger.js';
import type { QueueSampler } from '../queue/queue-sampler.js';
import type { Sample } from '../queue/queue-snapshot.js';

/**
 * What the collectors of one scrape read: the sample {@link refresh} fetched, or nothing when
 * Redis could not be read in time (then only `qscale_redis_up 0` and the exporter's own series are
 * reported — no stale numbers presented as current).
 */
export class ScrapeSource {
  private readonly sampler: QueueSampler;
  private readonly logger: Logger;
  /** The sample of the latest scrape; undefined after a failed one. */
  sample?: Sample;
  /** Scrapes whose Redis read failed or timed out. */
  errorsTotal = 0;

  constructor(sampler: QueueSampler, logger: Logger) {
    this.sampler = sampler;
    this.logger = logger;
  }

  get queueNames(): string[] {
    return this.sampler.queueNames;
  }

  /** Reads the queues (shared with concurrent scrapes, cached for SAMPLE_TTL_MS). Never throws. */
  async refresh(): Promise<void> {
    try {
      this.sample = await this.sampler.sample();
    } catch (error) {
      this.sample = undefined;
      this.errorsTotal++;
      this.logger.warn({ err: error }, 'scrape could not read Redis');
    }
  }
}
