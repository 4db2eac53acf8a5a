import type { QueueKeys } from '../../queue/queue-keys.js';
import { lastLine, parseRqTime, readRqJobFields, rqTraceback } from './rq-job-fields.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import {
  acknowledgeFailures,
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
import { REMOVE, REQUEUE } from './rq-job-scripts.js';

/** The registries and the queue list of a Python RQ queue. */
export const RQ_JOB_STATES = [
  'queued',
  'scheduled',
  'deferred',
  'started',
  'finished',
  'failed',
  'canceled',
] as const;

type RqState = (typeof RQ_JOB_STATES)[number];
type Registry = Exclude<RqState, 'queued'>;

const REGISTRY_KEY: Record<Registry, Parameters<QueueKeys['rq']>[0]> = {
  scheduled: 'scheduled',
  deferred: 'deferred',
  started: 'wip',
  finished: 'finished',
  failed: 'failed',
  canceled: 'canceled',
};
/** States `clean` may empty, by the job's `ended_at`. */
export const CLEANABLE: readonly RqState[] = ['finished', 'failed', 'canceled'];
/** Jobs read per round trip while cleaning. */
const CLEAN_BATCH = 200;

/** RQ's time as whole epoch ms, null when absent or unreadable. */
function rqTime(value: string | null | undefined): number | null {
  const ms = parseRqTime(value ?? undefined);
  return ms === undefined ? null : Math.floor(ms);
}

function rqNow(): string {
  return new Date().toISOString().replace('Z', '000Z');
}

/**
 * A job's traceback: its hash's zlib-compressed `exc_info`, or (RQ on Redis ≥ 5 keeps results in a
 * stream) the base64 `exc_string` of its latest result.
 */
function actionsFor(state: JobSummary['state']): JobAction[] {
  switch (state) {
    case 'failed':
      return ['retry', 'remove'];
    case 'scheduled':
      return ['promote', 'remove'];
    case 'queued':
    case 'deferred':
    case 'finished':
    case 'canceled':
      return ['remove'];
    default:
      return [];
  }
}

const SUMMARY_FIELDS = [
  'description',
  'status',
  'created_at',
  'started_at',
  'ended_at',
  'origin',
] as const;

/**
 * A Python RQ queue's jobs (RQ ≥ 1.13 key layout), read and acted on with the same key changes
 * RQ's own registry and job methods make, each action one Lua script. RQ has no per-queue pause
 * (`rq suspend` stops every worker of a Redis), so pause and resume are not offered; its job
 * payloads are pickles, shown by their description only.
 */
export class RqJobs implements QueueJobs {
  readonly kind = 'rq' as const;
  readonly queue: string;
  readonly supported: readonly JobAction[] = [
    'retry',
    'remove',
    'promote',
    'retry-failed',
    'clean',
  ];
  private readonly redis: RedisClient;
  private readonly keys: QueueKeys;

  constructor(redis: RedisClient, keys: QueueKeys) {
    this.redis = redis;
    this.keys = keys;
    this.queue = keys.queue;
  }

  private jobKey(id: string): string {
    return `${this.keys.prefix}:job:${id}`;
  }

  private rqState(state: JobState): RqState {
    if ((RQ_JOB_STATES as readonly string[]).includes(state)) return state as RqState;
    throw new JobActionError(
      'invalid',
      `"${state}" is not an RQ job state; use one of ${RQ_JOB_STATES.join(', ')}`,
    );
  }

  private async count(state: RqState): Promise<number> {
    return state === 'queued'
      ? this.redis.llen(this.keys.rq('queue'))
      : this.redis.zcard(this.keys.rq(REGISTRY_KEY[state]));
  }

  /** Ids of `state`, newest first, from `start` to `end` inclusive. */
  private async ids(state: RqState, start: number, end: number): Promise<string[]> {
    if (state === 'queued') {
      // RQ pushes on the right: newest first is the list read from its end.
      const ids = await this.redis.lrange(this.keys.rq('queue'), -end - 1, -start - 1);
      return ids.reverse();
    }
    return this.redis.zrevrange(this.keys.rq(REGISTRY_KEY[state]), start, end);
  }

  private async summaries(ids: string[], state: RqState): Promise<(JobSummary | undefined)[]> {
    const jobs = await readRqJobFields(this.redis, this.keys, ids, SUMMARY_FIELDS);
    return ids.map((id, index) => {
      const { fields, traceback } = jobs[index]!;
      const [description, status, createdAt, startedAt, endedAt] = fields;
      if (status === null && description === null) return undefined;
      return {
        id,
        name: description ?? null,
        fileName: null,
        state,
        createdAt: rqTime(createdAt),
        startedAt: rqTime(startedAt),
        finishedAt: rqTime(endedAt),
        attemptsMade: startedAt ? 1 : 0,
        error: cut(lastLine(traceback)),
      };
    });
  }

  async list(options: ListOptions): Promise<JobPage> {
    const state = this.rqState(options.state);
    const total = await this.count(state);
    return readPage({ ...options, state }, total, async (start, count) =>
      this.summaries(await this.ids(state, start, start + count - 1), state),
    );
  }

  async get(id: string): Promise<JobDetail | undefined> {
    const key = this.jobKey(id);
    let replies: [Record<string, string>, Buffer | null, [string, string[]][]];
    try {
      replies = await Promise.all([
        this.redis.hgetall(key),
        this.redis.hgetBuffer(key, 'exc_info'),
        this.redis.xrevrange(`${this.keys.prefix}:results:${id}`, '+', '-', 'COUNT', 1),
      ]);
    } catch (error) {
      // An id that names another kind of key (`<id>:dependents` is a set): no job.
      if (/^WRONGTYPE/.test((error as Error).message)) return undefined;
      throw error;
    }
    const [fields, exc, results] = replies;
    if (Object.keys(fields).length === 0 || fields.origin !== this.queue) return undefined;
    const status = fields.status ?? '';
    const state = (RQ_JOB_STATES as readonly string[]).includes(status)
      ? (status as RqState)
      : 'unknown';
    const traceback = rqTraceback(exc, results);
    const description = fields.description ?? null;
    const options: Record<string, unknown> = {};
    for (const name of ['timeout', 'result_ttl', 'failure_ttl', 'ttl', 'retries_left']) {
      if (fields[name] !== undefined && fields[name] !== '') options[name] = fields[name];
    }
    const retriesLeft = Number(fields.retries_left);
    const scheduledAt =
      state === 'scheduled'
        ? await this.redis
            .zscore(this.keys.rq('scheduled'), id)
            .then((score) => (score === null ? null : Number(score) * 1000))
        : null;
    return {
      id,
      name: description,
      fileName: null,
      state,
      createdAt: rqTime(fields.created_at),
      startedAt: rqTime(fields.started_at),
      finishedAt: rqTime(fields.ended_at),
      attemptsMade: fields.started_at ? 1 : 0,
      error: cut(lastLine(traceback)),
      data: description === null ? null : description.slice(0, MAX_DATA_CHARS),
      dataTruncated: (description?.length ?? 0) > MAX_DATA_CHARS,
      options,
      attempts: Number.isFinite(retriesLeft) ? retriesLeft + 1 : 1,
      dueAt: scheduledAt,
      stacktrace: traceback === null ? [] : [traceback],
      progress: null,
      result: null,
      logs: [],
      logCount: 0,
      actions: actionsFor(state),
    };
  }

  private async requeue(id: string, from: 'failed' | 'scheduled'): Promise<number> {
    return (await this.redis.eval(
      REQUEUE,
      4,
      this.keys.rq(from),
      this.jobKey(id),
      this.keys.rq('queue'),
      `${this.keys.prefix}:queues`,
      id,
      rqNow(),
    )) as number;
  }

  private async requeueOne(id: string, from: 'failed' | 'scheduled'): Promise<void> {
    const moved = await this.requeue(id, from);
    if (moved === 1) return;
    if (moved === -1)
      throw new JobActionError('not_found', `No job "${id}" in queue ${this.queue}`);
    const job = await this.get(id);
    if (!job) throw new JobActionError('not_found', `No job "${id}" in queue ${this.queue}`);
    throw new JobActionError(
      'conflict',
      `Job "${id}" is ${job.state}; only ${from} jobs can be ${from === 'failed' ? 'retried' : 'promoted'}`,
    );
  }

  retry(id: string): Promise<void> {
    return this.requeueOne(id, 'failed');
  }

  promote(id: string): Promise<void> {
    return this.requeueOne(id, 'scheduled');
  }

  async remove(id: string): Promise<void> {
    const removed = (await this.redis
      .eval(
        REMOVE,
        9,
        this.jobKey(id),
        this.keys.rq('queue'),
        this.keys.rq('finished'),
        this.keys.rq('failed'),
        this.keys.rq('deferred'),
        this.keys.rq('scheduled'),
        this.keys.rq('canceled'),
        `${this.keys.prefix}:results:${id}`,
        `${this.jobKey(id)}:dependents`,
        id,
        this.queue,
      )
      .catch((error: unknown) => {
        // An id that names another kind of key: no job, nothing touched (the script's first read).
        if (/WRONGTYPE/.test((error as Error).message)) return 0;
        throw error;
      })) as number;
    if (removed === 0)
      throw new JobActionError('not_found', `No job "${id}" in queue ${this.queue}`);
    if (removed === -2) {
      throw new JobActionError(
        'conflict',
        `Job "${id}" is being processed by a worker; wait until it finishes`,
      );
    }
  }

  async retryAllFailed(): Promise<number> {
    let retried = 0;
    for (;;) {
      const ids = await this.redis.zrange(this.keys.rq('failed'), 0, 499);
      if (ids.length === 0) return retried;
      let moved = 0;
      for (const id of ids) if ((await this.requeue(id, 'failed')) !== 0) moved++;
      retried += moved;
      if (moved === 0) return retried;
    }
  }

  acknowledgeFailures(): Promise<number> {
    return acknowledgeFailures(this.redis, this.keys);
  }

  async pause(): Promise<void> {
    throw new JobActionError(
      'unsupported',
      'RQ has no per-queue pause (`rq suspend` stops every worker of this Redis)',
    );
  }

  async resume(): Promise<void> {
    return this.pause();
  }

  /** RQ's `rq suspend` flag: every worker of this Redis is suspended. */
  async isPaused(): Promise<boolean> {
    return (await this.redis.exists(`${this.keys.prefix}:suspended`)) === 1;
  }

  async clean(asked: JobState, olderThanMs: number, limit: number): Promise<number> {
    const state = this.rqState(asked);
    if (!CLEANABLE.includes(state)) {
      throw new JobActionError(
        'invalid',
        `An RQ queue can be cleaned of ${CLEANABLE.join(', ')} jobs, not ${state}`,
      );
    }
    const registry = this.keys.rq(REGISTRY_KEY[state as Registry]);
    const before = Date.now() - olderThanMs;
    let removed = 0;
    let offset = 0;
    // Oldest expiry first: in one registry jobs expire in the order they ended (same TTL).
    while (removed < limit && offset < SEARCH_SCAN_LIMIT * 50) {
      const ids = await this.redis.zrange(registry, offset, offset + CLEAN_BATCH - 1);
      if (ids.length === 0) break;
      const found = await this.summaries(ids, state);
      let kept = 0;
      for (let i = 0; i < ids.length && removed < limit; i++) {
        const job = found[i];
        const ended = job?.finishedAt ?? job?.createdAt ?? 0;
        if (ended > before) {
          kept++;
        } else if (!job) {
          // A registry entry whose hash expired: RQ's own cleanup drops these too.
          await this.redis.zrem(registry, ids[i]!);
        } else if (
          await this.remove(ids[i]!).then(
            () => true,
            () => false,
          )
        ) {
          removed++;
        } else {
          kept++;
        }
      }
      offset += kept;
      if (ids.length < CLEAN_BATCH) break;
    }
    return removed;
  }

  async close(): Promise<void> {
    // Nothing of its own: the client is the caller's.
  }
}
