import { bullmqDriver } from './bullmq/bullmq-driver.js';
import { celeryDriver } from './celery/celery-driver.js';
import type { QueueKindDriver } from './driver.js';
import type { QueueKind } from './queue-kind.js';
import { rqDriver } from './rq/rq-driver.js';

/**
 * Every queue kind's driver. A kind of {@link QueueKind} without a driver here, or a driver that
 * misses a method, fails to compile: a new kind is its folder, one line here and the union.
 */
export const DRIVERS = {
  bullmq: bullmqDriver,
  rq: rqDriver,
  celery: celeryDriver,
} satisfies Record<QueueKind, QueueKindDriver>;

/** The kind a plain QUEUES entry (no `<kind>:`) names. */
export const DEFAULT_KIND: QueueKind = 'bullmq';

/** The driver of a kind (of a snapshot or queue without one: the default kind's). */
export function driverOf(kind: QueueKind | undefined): QueueKindDriver {
  return DRIVERS[kind ?? DEFAULT_KIND];
}

/** Every driver, in registry order. */
export function allDrivers(): QueueKindDriver[] {
  return Object.values(DRIVERS);
}
