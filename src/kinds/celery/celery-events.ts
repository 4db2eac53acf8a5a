/**
 * The Celery events qscale reads, as workers (`-E`, `worker_send_task_events`) and producers
 * (`task_send_sent_event`) publish them: kombu's Redis transport sends each to the pub/sub
 * channel `/<db>.celeryev/<routing key>` (`worker.heartbeat`, `task.sent`, and `task.multi` for
 * the task events a worker buffers and sends as a list), as a kombu message whose base64 `body`
 * is the JSON event, or a JSON list of events.
 */
export interface CeleryEvent {
  type: string;
  /** The sender's hostname (`celery@host`, or `gen<pid>@host` for a producer). */
  hostname: string;
  /** The sender's clock, epoch seconds. */
  timestamp: number;
  uuid?: string;
  name?: string;
  /** task-sent: the queue, exchange and routing key the task was published to. */
  queue?: string;
  exchange?: string;
  routing_key?: string;
  /** ISO time of an ETA/countdown, or null. */
  eta?: string | null;
  /** task-failed: the exception's repr. */
  exception?: string;
  /** task-succeeded: seconds the task ran. */
  runtime?: number;
  /** worker-* events: heartbeat interval in seconds, running tasks, tasks ever received. */
  freq?: number;
  active?: number;
  processed?: number;
}

/** The pattern that receives every event of database `db`. */
export function celeryEventsPattern(db: number): string {
  return `/${db}.celeryev/*`;
}

/** Events a message may carry at most (a worker buffers task events into one message). */
const MAX_EVENTS_PER_MESSAGE = 10_000;

/**
 * Characters of one pub/sub message read at most: a worker's buffered `task.multi` holds a few
 * dozen events of well under 1 KB each; anything larger is not a Celery event and is not parsed.
 */
export const MAX_EVENT_MESSAGE_CHARS = 4 * 1024 * 1024;

function toEvent(value: unknown): CeleryEvent | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const event = value as Record<string, unknown>;
  if (typeof event.type !== 'string' || typeof event.hostname !== 'string') return undefined;
  const timestamp = Number(event.timestamp);
  if (!Number.isFinite(timestamp)) return undefined;
  return { ...(event as unknown as CeleryEvent), timestamp };
}

/**
 * The events of one pub/sub message; [] for one that is not a JSON kombu message with a JSON
 * body (an `event_serializer` other than json is not read), or is larger than
 * {@link MAX_EVENT_MESSAGE_CHARS}.
 */
export function decodeCeleryEvents(payload: string): CeleryEvent[] {
  if (payload.length > MAX_EVENT_MESSAGE_CHARS) return [];
  let message: unknown;
  try {
    message = JSON.parse(payload);
  } catch {
    return [];
  }
  if (typeof message !== 'object' || message === null) return [];
  const { body, properties } = message as { body?: unknown; properties?: unknown };
  if (typeof body !== 'string') return [];
  const encoding = (properties as { body_encoding?: unknown } | undefined)?.body_encoding;
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body,
    );
  } catch {
    return [];
  }
  const list = Array.isArray(parsed) ? parsed.slice(0, MAX_EVENTS_PER_MESSAGE) : [parsed];
  return list.map(toEvent).filter((event): event is CeleryEvent => event !== undefined);
}
