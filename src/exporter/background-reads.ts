import type { Logger } from '../config/logger.js';
import { driverOf } from '../kinds/registry.js';
import type { ScalingSignals } from '../scaling/scaling-signals.js';

/** How often the sidecar reads the queues by itself while any queue's numbers are derived. */
export const DERIVED_READ_INTERVAL_MS = 2000;

/** After a KEDA call, the sidecar keeps reading the queues regularly for this long. */
const SCALING_READS_FOR_MS = 5 * 60_000;

/**
 * Reads the queues by itself, whether or not anyone scrapes:
 * - every {@link DERIVED_READ_INTERVAL_MS} while any of them has workers without qscale
 *   telemetry and a driver that says so (`derivedNeedsRegularReads`): BullMQ's derived counters come from its events stream, which keeps only the
 *   latest ~10 000 events (about 2 500 jobs), so reading it every 2 s keeps them complete up to
 *   ~1 000 jobs/s where a 15 s scrape alone would miss jobs above ~150 jobs/s;
 * - every {@link ScalingSignals.regularReadMs} (2 s at the default rate window) for 5 minutes after
 *   a KEDA call: the arrival rate the decision sizes with needs regular points to see a step up
 *   within seconds, which KEDA's polls and Prometheus' scrapes (15 s or more apart) do not give.
 * Otherwise (exact telemetry, no autoscaler asking) the timer does nothing.
 */
export function keepQueuesRead(signals: ScalingSignals, logger: Logger): NodeJS.Timeout {
  let reading = false;
  const everyMs = Math.min(DERIVED_READ_INTERVAL_MS, signals.regularReadMs);
  const timer = setInterval(() => {
    // Decided by the latest read, whoever made it: nothing before the first scrape or KEDA call,
    // and nothing while scrapes or KEDA's calls read often enough by themselves.
    const latest = signals.latest;
    if (reading || !latest) return;
    const now = Date.now();
    const derived = latest.queues.some(
      (q) => q.telemetry === 'derived' && driverOf(q.kind).derivedNeedsRegularReads,
    );
    const scaling = now - signals.scalingReadAt < SCALING_READS_FOR_MS;
    const interval = scaling ? signals.regularReadMs : derived ? DERIVED_READ_INTERVAL_MS : 0;
    if (interval === 0 || now - latest.sampledAt < interval - everyMs / 2) return;
    reading = true;
    signals
      .read({ maxAgeMs: interval })
      .catch((error: unknown) => logger.debug({ err: error }, 'background read failed'))
      .finally(() => {
        reading = false;
      });
  }, everyMs);
  timer.unref();
  return timer;
}
