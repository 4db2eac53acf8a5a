import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../config/logger.js';
import type { QueueJobs } from '../../queue/queue-jobs.js';
import type { HistoryPoint } from '../queue-history.js';
import type { ApiRequest } from '../../http/api-types.js';
import type { Actor, ConsoleAccess } from './console-access.js';

/** What the console's handlers use. */
export interface ConsoleContext {
  /** Every watched queue's jobs, by queue name, in QUEUES order. */
  jobs: ReadonlyMap<string, QueueJobs>;
  access: ConsoleAccess;
  logger: Logger;
  /** A queue's stored history (HISTORY=on); absent when the sidecar keeps none. */
  history?: (queue: string, seconds: number) => Promise<QueueHistory>;
}

export interface QueueHistory {
  stepSeconds: number;
  points: HistoryPoint[];
}

/** A console request: a handler's request plus who is acting (actions only). */
export interface ConsoleRequest extends ApiRequest {
  raw: IncomingMessage;
  actor?: Actor;
}
