import type { QueueKind } from '../kinds/queue-kind.js';
import type { QueueKeys } from './queue-keys.js';
import type { RedisClient } from '../redis/redis-connection.js';

/**
 * A job state as the queue's driver names it (`waiting`, `queued`, `reserved`, …): each driver
 * lists its own in `jobStates`, in the order a console shows them.
 */
export type JobState = string;

/** What an operator can do to a queue and its jobs. */
export type JobAction =
  'retry' | 'remove' | 'promote' | 'retry-failed' | 'ack-failures' | 'pause' | 'resume' | 'clean';

/** One job in a list. Times are epoch ms, null when not reached (or unknown). */
export interface JobSummary {
  id: string;
  /** BullMQ's job name; RQ's description (`module.function(args)`). */
  name: string | null;
  /** `data.fileName` of a file job; null for jobs of other apps. */
  fileName: string | null;
  state: JobState | 'unknown';
  createdAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  attemptsMade: number;
  /** The last attempt's error message, cut to 500 characters. */
  error: string | null;
}

/** One job with everything a console shows of it. */
export interface JobDetail extends JobSummary {
  /** The job's data as JSON text (RQ: its description; the pickled payload is not decoded). */
  data: string | null;
  /** True when `data` was cut to {@link MAX_DATA_CHARS}. */
  dataTruncated: boolean;
  /** BullMQ's job options as stored; null for RQ. */
  options: Record<string, unknown> | null;
  /** Attempts the job may make in all (BullMQ `opts.attempts`; RQ: 1 + retries). */
  attempts: number | null;
  /** Delay until a delayed job is due (BullMQ), or RQ's scheduled time; epoch ms. */
  dueAt: number | null;
  /** Stack traces or tracebacks of the failed attempts, newest last. */
  stacktrace: string[];
  /** BullMQ `progress` (a number or an object); null for RQ. */
  progress: unknown;
  /** The result of a completed job, as JSON text cut like `data`. */
  result: string | null;
  /** The job's log lines (BullMQ `job.log`), oldest first, at most {@link MAX_LOG_LINES}. */
  logs: string[];
  logCount: number;
  /** Which actions the job's current state allows. */
  actions: JobAction[];
}

export interface JobPage {
  state: JobState;
  /** Jobs in that state now (before any search). */
  total: number;
  jobs: JobSummary[];
  /** Pass as `cursor` for the next page; null at the end. */
  nextCursor: string | null;
  /** How many jobs this page's search looked at (a search reads at most {@link SEARCH_SCAN_LIMIT}). */
  scanned: number;
}

export interface ListOptions {
  state: JobState;
  /** @defaultValue 20 */
  limit: number;
  /** Position in the state's list (newest first) where the previous page ended. */
  cursor?: number;
  /** Case-insensitive text found in the job id, name or file name. */
  search?: string;
}

/** Data and results longer than this are cut in a job's detail. */
export const MAX_DATA_CHARS = 64 * 1024;
export const MAX_LOG_LINES = 100;
/** Most jobs one search request reads; a page may then be short, with a `nextCursor`. */
export const SEARCH_SCAN_LIMIT = 2000;

/** Why an action or a read was refused; the HTTP layer maps `reason` to 404, 409 or 400. */
export class JobActionError extends Error {
  readonly reason: 'not_found' | 'conflict' | 'unsupported' | 'invalid';

  constructor(reason: JobActionError['reason'], message: string) {
    super(message);
    this.name = 'JobActionError';
    this.reason = reason;
  }
}

/**
 * Reading and acting on one queue's jobs, whatever kind of queue it is. Every method is one or a
 * few bounded Redis calls; actions change only the jobs they name (or, for `retryAllFailed` and
 * `clean`, the state they name).
 */
export interface QueueJobs {
  readonly kind: QueueKind;
  readonly queue: string;
  /** The actions this kind of queue supports at all. */
  readonly supported: readonly JobAction[];
  list(options: ListOptions): Promise<JobPage>;
  get(id: string): Promise<JobDetail | undefined>;
  retry(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  promote(id: string): Promise<void>;
  /** Moves every failed job back to waiting; resolves to how many there were. */
  retryAllFailed(): Promise<number>;
  /**
   * Marks the failures so far as seen (they stay listed): `qscale doctor` warns only about later
   * ones. Resolves to the time acknowledged (epoch ms).
   */
  acknowledgeFailures(): Promise<number>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  isPaused(): Promise<boolean>;
  /** Removes up to `limit` jobs in `state` that finished (or were created) over `olderThanMs` ago. */
  clean(state: JobState, olderThanMs: number, limit: number): Promise<number>;
  close(): Promise<void>;
}

const MAX_ERROR_CHARS = 500;

/** Stores "failures seen up to now" for a queue; see {@link QueueJobs.acknowledgeFailures}. */
export async function acknowledgeFailures(redis: RedisClient, keys: QueueKeys): Promise<number> {
  const now = Date.now();
  await redis.set(keys.failuresAcknowledged(), String(now));
  return now;
}

/** `text` cut to `max` characters with an ellipsis. */
export function cut(text: string | null | undefined, max = MAX_ERROR_CHARS): string | null {
  if (text === null || text === undefined) return null;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Jobs read per Redis round trip while a search fills a page. */
const SEARCH_BATCH = 200;

/**
 * One page of a state's jobs, newest first, from `cursor`: `read(start, count)` gives the jobs at
 * those positions (undefined for one that vanished meanwhile). Without a search it reads `limit`
 * jobs; with one it reads on in batches until the page is full, the state ends or
 * {@link SEARCH_SCAN_LIMIT} jobs were read (then `nextCursor` says where to go on).
 */
export async function readPage(
  { state, limit, cursor = 0, search }: ListOptions,
  total: number,
  read: (start: number, count: number) => Promise<(JobSummary | undefined)[]>,
): Promise<JobPage> {
  const needle = search ? search.toLowerCase() : undefined;
  const scanLimit = needle === undefined ? limit : SEARCH_SCAN_LIMIT;
  const jobs: JobSummary[] = [];
  let position = cursor;
  let scanned = 0;
  while (jobs.length < limit && scanned < scanLimit && position < total) {
    const batch = Math.min(needle === undefined ? limit : SEARCH_BATCH, scanLimit - scanned);
    const found = await read(position, batch);
    if (found.length === 0) break;
    let taken = found.length;
    for (let i = 0; i < found.length; i++) {
      const job = found[i];
      if (job && (needle === undefined || matchesSearch(job, needle))) jobs.push(job);
      if (jobs.length === limit) {
        taken = i + 1;
        break;
      }
    }
    position += taken;
    scanned += taken;
    if (found.length < batch) break;
  }
  return { state, total, jobs, nextCursor: position < total ? String(position) : null, scanned };
}

/** Whether `search` (lower-cased) is found in the job's id, name or file name. */
export function matchesSearch(job: JobSummary, search: string): boolean {
  return [job.id, job.name, job.fileName].some(
    (field) => field !== null && field.toLowerCase().includes(search),
  );
}
