import { allDrivers, DEFAULT_KIND, DRIVERS, driverOf } from './registry.js';
import type { QueueAddress, QueueKind, QueueSelector } from './queue-kind.js';

/** What QUEUES accepts, for messages: `bullmq:<prefix>/<name> or rq:<name>`. */
export function queueEntrySyntax(): string {
  const syntaxes = allDrivers().map((driver) => driver.addressSyntax);
  return syntaxes.length > 1
    ? `${syntaxes.slice(0, -1).join(', ')} or ${syntaxes[syntaxes.length - 1]}`
    : syntaxes.join('');
}

function kindOf(text: string): QueueKind | undefined {
  return Object.hasOwn(DRIVERS, text) ? (text as QueueKind) : undefined;
}

/**
 * One entry of QUEUES (or a KEDA trigger's `queue`): `<kind>:<what that kind's driver reads>`
 * (`bullmq:<prefix>/<name>`, `rq:<name>`, …), or a plain name of the default kind (BullMQ, under
 * `defaultPrefix`). A name with `*` or `?` is a pattern. Returns what is wrong as a string.
 */
export function parseQueueEntry(entry: string, defaultPrefix: string): QueueSelector | string {
  const colon = entry.indexOf(':');
  const kind = colon < 0 ? undefined : kindOf(entry.slice(0, colon));
  if (kind !== undefined) {
    return DRIVERS[kind].parseAddress(entry.slice(colon + 1), defaultPrefix, false);
  }
  if (colon >= 0) return `is not a queue name, ${queueEntrySyntax()}`;
  return driverOf(DEFAULT_KIND).parseAddress(entry, defaultPrefix, true);
}

/** Whether an entry names its kind (`rq:x`) rather than being a plain name. */
export function namesItsKind(entry: string): boolean {
  const colon = entry.indexOf(':');
  return colon >= 0 && kindOf(entry.slice(0, colon)) !== undefined;
}

/** The QUEUES entry of a queue: `bullmq:<prefix>/<name>`, `rq:<name>`, … */
export function formatQueueAddress(address: QueueAddress): string {
  return DRIVERS[address.kind].formatAddress(address);
}
