import { readFileSync } from 'node:fs';
import type { RedisClient } from '../../redis/redis-connection.js';
import {
  cut,
  readPage,
  JobActionError,
  MAX_DATA_CHARS,
  SEARCH_SCAN_LIMIT,
  type JobAction,
  type JobDetail,
  type JobPage,
  type JobState,
  type JobSummary,
  type ListOptions,
  type QueueJobs,
} from '../../queue/queue-jobs.js';
import { CELERY_PRIORITY_STEPS, CeleryKeys } from './celery-keys.js';

const PURGE = readFileSync(new URL('./purge-celery-lists.lua', import.meta.url), 'utf8');

/** The states a Celery queue lists: its list of priority 0, and its priority lists. */
export const CELERY_JOB_STATES = ['waiting', 'prioritized'] as const;
type CeleryState = (typeof CELERY_JOB_STATES)[number];

/** Characters of a task's arguments shown in a list (`task(args, kwargs)`). */
const ARGS_PREVIEW_CHARS = 200;

/** Why Celery offers no per-message actions, for the console's refusals. */
export const CELERY_ACTIONS_REFUSED =
  'Celery keeps no job records in Redis, only messages in a list: a waiting message cannot be retried, removed one by one or promoted, failed tasks are not kept (results live in the result backend), and a queue cannot be paused from Redis. A Celery queue supports listing its waiting messages and purging them (clean with state waiting or prioritized, olderThanSeconds 0)';

interface CeleryMessage {
  headers?: {
    id?: unknown;
    task?: unknown;
    argsrepr?: unknown;
    kwargsrepr?: unknown;
    eta?: unknown;
    retries?: unknown;
    expires?: unknown;
  };
  properties?: { priority?: unknown; body_encoding?: unknown };
  body?: unknown;
}

function parse(raw: string): CeleryMessage | undefined {
  try {
    const message = JSON.parse(raw) as unknown;
    return typeof message === 'object' && message !== null ? (message as CeleryMessage) : undefined;
  } catch {
    return undefined;
  }
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function summaryOf(raw: string, state: CeleryState): JobSummary | undefined {
  const message = parse(raw);
  const id = text(message?.headers?.id);
  if (!message || id === null) return undefined;
  const task = text(message.headers?.task) ?? '?';
  const args = text(message.headers?.argsrepr) ?? '';
  const kwargs = text(message.headers?.kwargsrepr) ?? '';
  const shown = kwargs && kwargs !== '{}' ? `${args.replace(/\)$/, '')}, **${kwargs})` : args;
  return {
    id,
    name: cut(`${task}${shown}`, ARGS_PREVIEW_CHARS),
    fileName: null,
    state,
    // A Celery message carries no time it was sent at.
    createdAt: null,
    startedAt: null,
    finishedAt: null,
    attemptsMade: Number(message.headers?.retries) || 0,
    error: null,
  };
}

/**
 * A Celery queue's waiting messages on kombu's Redis transport, read from its lists (newest
 * first), and purged with the same key changes kombu's purge makes. Celery keeps no per-task
 * records in the broker, so this is all it allows; the rest is refused with
 * {@link CELERY_ACTIONS_REFUSED}.
 */
export class CeleryJobs implements QueueJobs {
  readonly kind = 'celery' as const;
  readonly queue: string;
  readonly supported: readonly JobAction[] = ['clean'];
  private readonly keys: CeleryKeys;

  constructor(
    private readonly redis: RedisClient,
    queue: string,
  ) {
    this.queue = queue;
    this.keys = new CeleryKeys(queue);
  }

  private celeryState(state: JobState): CeleryState {
    if ((CELERY_JOB_STATES as readonly string[]).includes(state)) return state as CeleryState;
    throw new JobActionError(
      'invalid',
      `"${state}" is not a state of a Celery queue; use one of ${CELERY_JOB_STATES.join(', ')}`,
    );
  }

  private lists(state: CeleryState): string[] {
    return state === 'waiting'
      ? [this.keys.list(0)]
      : CELERY_PRIORITY_STEPS.map((step) => this.keys.list(step));
  }

  /** Messages at positions [start, start + count) of the lists, each newest first. */
  private async read(lists: string[], lengths: number[], start: number, count: number) {
    const raws: string[] = [];
    let offset = start;
    for (let i = 0; i < lists.length && raws.length < count; i++) {
      const length = lengths[i]!;
      if (offset >= length) {
        offset -= length;
        continue;
      }
      raws.push(...(await this.redis.lrange(lists[i]!, offset, offset + count - raws.length - 1)));
      offset = 0;
    }
    return raws;
  }

  private async lengths(lists: string[]): Promise<number[]> {
    const pipeline = this.redis.pipeline();
    for (const list of lists) pipeline.llen(list);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, n]) => {
      if (error) throw error;
      return Number(n);
    });
  }

  async list(options: ListOptions): Promise<JobPage> {
    const state = this.celeryState(options.state);
    const lists = this.lists(state);
    const lengths = await this.lengths(lists);
    const total = lengths.reduce((sum, n) => sum + n, 0);
    return readPage({ ...options, state }, total, async (start, count) =>
      (await this.read(lists, lengths, start, count)).map((raw) => summaryOf(raw, state)),
    );
  }

  /** A waiting message by task id: looked for among the newest {@link SEARCH_SCAN_LIMIT} of each state. */
  async get(id: string): Promise<JobDetail | undefined> {
    for (const state of CELERY_JOB_STATES) {
      const lists = this.lists(state);
      for (const list of lists) {
        const raws = await this.redis.lrange(list, 0, SEARCH_SCAN_LIMIT - 1);
        for (const raw of raws) {
          const summary = summaryOf(raw, state);
          if (summary?.id !== id) continue;
          const message = parse(raw)!;
          let body = typeof message.body === 'string' ? message.body : '';
          if (message.properties?.body_encoding === 'base64') {
            body = Buffer.from(body, 'base64').toString('utf8');
          }
          return {
            ...summary,
            name: cut(`${text(message.headers?.task) ?? '?'}`, ARGS_PREVIEW_CHARS),
            data: body.slice(0, MAX_DATA_CHARS),
            dataTruncated: body.length > MAX_DATA_CHARS,
            options: {
              priority: message.properties?.priority ?? null,
              eta: message.headers?.eta ?? null,
              expires: message.headers?.expires ?? null,
            },
            attempts: null,
            dueAt:
              typeof message.headers?.eta === 'string' ? Date.parse(message.headers.eta) : null,
            stacktrace: [],
            progress: null,
            result: null,
            logs: [],
            logCount: 0,
            actions: [],
          };
        }
      }
    }
    return undefined;
  }

  private refuse(): Promise<never> {
    return Promise.reject(new JobActionError('unsupported', CELERY_ACTIONS_REFUSED));
  }

  retry(): Promise<void> {
    return this.refuse();
  }

  remove(): Promise<void> {
    return this.refuse();
  }

  promote(): Promise<void> {
    return this.refuse();
  }

  retryAllFailed(): Promise<number> {
    return this.refuse();
  }

  acknowledgeFailures(): Promise<number> {
    return this.refuse();
  }

  pause(): Promise<void> {
    return this.refuse();
  }

  resume(): Promise<void> {
    return this.refuse();
  }

  async isPaused(): Promise<boolean> {
    return false;
  }

  /**
   * Purges up to `limit` waiting messages of `state`, oldest first. Celery messages carry no time
   * they were sent at, so only `olderThanMs` 0 (every message) is accepted.
   */
  async clean(asked: JobState, olderThanMs: number, limit: number): Promise<number> {
    const state = this.celeryState(asked);
    if (olderThanMs !== 0) {
      throw new JobActionError(
        'invalid',
        'Celery messages carry no time they were sent at: purge a Celery queue with olderThanSeconds 0',
      );
    }
    const lists = this.lists(state);
    return Number(await this.redis.eval(PURGE, lists.length, ...lists, limit));
  }

  async close(): Promise<void> {
    // Nothing of its own: the client is the caller's.
  }
}
