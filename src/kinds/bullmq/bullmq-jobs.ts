import { Queue, type Job } from 'bullmq';
import type { QueueKeys } from '../../queue/queue-keys.js';
import type { RedisClient } from '../../redis/redis-connection.js';
import {
  acknowledgeFailures,
  readPage,
  cut,
  JobActionError,
  MAX_DATA_CHARS,
  MAX_LOG_LINES,
  type JobAction,
  type JobDetail,
  type JobPage,
  type JobState,
  type JobSummary,
  type ListOptions,
  type QueueJobs,
} from '../../queue/queue-jobs.js';

/** States `clean` may empty: never `active` (its jobs belong to running workers). */
export const CLEANABLE = ['completed', 'failed', 'delayed', 'waiting', 'prioritized'] as const;
/** The job states a BullMQ queue lists, in the order a console shows them. */
export const BULLMQ_JOB_STATES = [
  'waiting',
  'prioritized',
  'delayed',
  'active',
  'waiting-children',
  'completed',
  'failed',
] as const;

type Cleanable = (typeof CLEANABLE)[number];
const isCleanable = (state: string): state is Cleanable =>
  (CLEANABLE as readonly string[]).includes(state);
type BullmqState = (typeof BULLMQ_JOB_STATES)[number];

function bullState(state: JobState): BullmqState {
  if ((BULLMQ_JOB_STATES as readonly string[]).includes(state)) return state as BullmqState;
  throw new JobActionError(
    'invalid',
    `"${state}" is not a BullMQ job state; use one of ${BULLMQ_JOB_STATES.join(', ')}`,
  );
}

function fileNameOf(data: unknown): string | null {
  const name = (data as { fileName?: unknown } | null)?.fileName;
  return typeof name === 'string' ? name : null;
}

function json(value: unknown): { text: string | null; truncated: boolean } {
  if (value === undefined || value === null) return { text: null, truncated: false };
  const text = JSON.stringify(value) ?? null;
  if (text === null || text.length <= MAX_DATA_CHARS) return { text, truncated: false };
  return { text: text.slice(0, MAX_DATA_CHARS), truncated: true };
}

function actionsFor(state: JobSummary['state']): JobAction[] {
  switch (state) {
    case 'failed':
    case 'completed':
      return ['retry', 'remove'];
    case 'delayed':
      return ['promote', 'remove'];
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return ['remove'];
    default:
      return [];
  }
}

/** BullMQ's script errors, as the operator should read them. */
function mapScriptError(error: unknown, id: string): never {
  const message = error instanceof Error ? error.message : String(error);
  if (/^Missing key for job/.test(message)) {
    throw new JobActionError(
      'not_found',
      `No job "${id}" in this queue (it was removed meanwhile)`,
    );
  }
  const state = /is not in the (\S+) state/.exec(message);
  if (state) {
    throw new JobActionError(
      'conflict',
      `Job "${id}" is no longer ${state[1]} (a worker or another operator moved it meanwhile); reload and try again`,
    );
  }
  if (/locked by another worker|Missing lock|Lock mismatch/.test(message)) {
    throw new JobActionError(
      'conflict',
      `Job "${id}" is being processed by a worker; wait until it finishes`,
    );
  }
  if (/belongs to a job scheduler/.test(message)) {
    throw new JobActionError(
      'conflict',
      `Job "${id}" belongs to a job scheduler (repeatable job); remove the scheduler instead`,
    );
  }
  if (/pending dependencies/.test(message)) {
    throw new JobActionError('conflict', `Job "${id}" is waiting for its children to finish`);
  }
  throw error;
}

/**
 * A BullMQ queue's jobs, read and acted on through BullMQ's own `Queue` (its Lua scripts keep each
 * action atomic). The queue is opened with `skipMetasUpdate`, so merely watching a queue another
 * app owns writes nothing: only the actions an operator asks for do.
 */
export class BullmqJobs implements QueueJobs {
  readonly kind = 'bullmq' as const;
  readonly queue: string;
  readonly supported: readonly JobAction[] = [
    'retry',
    'remove',
    'promote',
    'retry-failed',
    'ack-failures',
    'pause',
    'resume',
    'clean',
  ];
  private opening?: Promise<Queue>;
  private readonly redis: RedisClient;
  private readonly keys: QueueKeys;

  constructor(redis: RedisClient, keys: QueueKeys) {
    this.queue = keys.queue;
    this.redis = redis;
    this.keys = keys;
  }

  /**
   * BullMQ's queue, opened on first use. BullMQ checks the Redis version once, when a queue is
   * created, and a queue whose check failed (Redis down or frozen at that moment) fails every call
   * after; such a queue is dropped and the next call opens a new one.
   */
  private open(): Promise<Queue> {
    this.opening ??= (async () => {
      const queue = new Queue(this.keys.queue, {
        connection: this.redis,
        prefix: this.keys.prefix,
        skipMetasUpdate: true,
        skipWaitingForReady: true,
      });
      // Connection errors reach the caller of each read; the shared client logs them already.
      queue.on('error', () => undefined);
      try {
        await queue.waitUntilReady();
        return queue;
      } catch (error) {
        this.opening = undefined;
        await queue.close().catch(() => undefined);
        throw error;
      }
    })();
    return this.opening;
  }

  private async count(state: BullmqState): Promise<number> {
    const counts = await (await this.open()).getJobCounts(state);
    return counts[state] ?? 0;
  }

  private summary(job: Job, state: JobSummary['state']): JobSummary {
    return {
      id: String(job.id),
      name: job.name ?? null,
      fileName: fileNameOf(job.data),
      state,
      createdAt: job.timestamp || null,
      startedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
      attemptsMade: job.attemptsMade ?? 0,
      error: cut(job.failedReason || null),
    };
  }

  async list(options: ListOptions): Promise<JobPage> {
    const state = bullState(options.state);
    const total = await this.count(state);
    return readPage({ ...options, state }, total, async (start, count) => {
      const bull = await this.open();
      const ids = await bull.getRanges([state], start, start + count - 1, false);
      const jobs = await Promise.all(ids.map((id) => bull.getJob(id)));
      return jobs.map((job) => (job ? this.summary(job, state) : undefined));
    });
  }

  async get(id: string): Promise<JobDetail | undefined> {
    const bull = await this.open();
    const job = await this.find(bull, id);
    if (!job) return undefined;
    const [state, logs] = await Promise.all([job.getState() as Promise<string>, this.logsOf(id)]);
    const known = (state === 'unknown' ? 'unknown' : state) as JobSummary['state'];
    const data = json(job.data);
    const result = json(job.returnvalue);
    const delay = job.opts?.delay ?? 0;
    return {
      ...this.summary(job, known),
      data: data.text,
      dataTruncated: data.truncated,
      options: (job.opts ?? null) as Record<string, unknown> | null,
      // BullMQ stores `attempts: 0` for jobs added without the option: one attempt.
      attempts: Math.max(1, job.opts?.attempts ?? 1),
      dueAt: known === 'delayed' && delay > 0 ? job.timestamp + delay : null,
      stacktrace: (job.stacktrace ?? []).filter((line): line is string => typeof line === 'string'),
      progress: job.progress ?? null,
      result: result.text,
      logs: logs.lines,
      logCount: logs.count,
      actions: actionsFor(known),
    };
  }

  /**
   * A job's newest {@link MAX_LOG_LINES} log lines, oldest first, and how many it has. Read in a
   * pipeline, not with BullMQ's `getJobLogs`, whose MULTI Redis 7 refuses while it is over
   * `maxmemory` (reads included): the console shows jobs on a full Redis too.
   */
  private async logsOf(id: string): Promise<{ lines: string[]; count: number }> {
    const key = this.keys.bull(`${id}:logs`);
    const results =
      (await this.redis.pipeline().lrange(key, -MAX_LOG_LINES, -1).llen(key).exec()) ?? [];
    for (const [error] of results) if (error) throw error;
    return { lines: (results[0]?.[1] as string[]) ?? [], count: Number(results[1]?.[1] ?? 0) };
  }

  /**
   * The job `id` names, if it is one. Ids come from the request: `meta`, `events` or `id` name
   * BullMQ's own keys of the queue (`<prefix>:<queue>:meta` is a hash BullMQ would read as a job,
   * and removing it would wipe the queue's settings), so a hash without a job's `name` and
   * `timestamp`, or a key of another type, is no job.
   */
  private async find(bull: Queue, id: string): Promise<Job | undefined> {
    let job: Job | undefined;
    try {
      job = await bull.getJob(id);
    } catch (error) {
      if (/^WRONGTYPE/.test((error as Error).message)) return undefined;
      throw error;
    }
    if (!job || typeof job.name !== 'string' || !(job.timestamp > 0)) return undefined;
    return job;
  }

  private async job(id: string): Promise<{ job: Job; state: string }> {
    const job = await this.find(await this.open(), id);
    if (!job) throw new JobActionError('not_found', `No job "${id}" in queue ${this.queue}`);
    return { job, state: (await job.getState()) as string };
  }

  async retry(id: string): Promise<void> {
    const { job, state } = await this.job(id);
    if (state !== 'failed' && state !== 'completed') {
      throw new JobActionError(
        'conflict',
        `Job "${id}" is ${state}; only failed or completed jobs can be retried`,
      );
    }
    await job.retry(state).catch((error: unknown) => mapScriptError(error, id));
  }

  async remove(id: string): Promise<void> {
    const { job, state } = await this.job(id);
    if (state === 'unknown') {
      throw new JobActionError(
        'conflict',
        `Job "${id}" is in none of the queue's states; BullMQ's own clean-up handles such leftovers`,
      );
    }
    if (state === 'active') {
      throw new JobActionError(
        'conflict',
        `Job "${id}" is being processed by a worker; wait until it finishes`,
      );
    }
    await job.remove().catch((error: unknown) => mapScriptError(error, id));
  }

  async promote(id: string): Promise<void> {
    const { job, state } = await this.job(id);
    if (state !== 'delayed') {
      throw new JobActionError(
        'conflict',
        `Job "${id}" is ${state}; only delayed jobs can be promoted`,
      );
    }
    await job.promote().catch((error: unknown) => mapScriptError(error, id));
  }

  async retryAllFailed(): Promise<number> {
    const failed = await this.count('failed');
    if (failed > 0) await (await this.open()).retryJobs({ state: 'failed', count: 1000 });
    return failed;
  }

  acknowledgeFailures(): Promise<number> {
    return acknowledgeFailures(this.redis, this.keys);
  }

  async pause(): Promise<void> {
    await (await this.open()).pause();
  }

  async resume(): Promise<void> {
    await (await this.open()).resume();
  }

  async isPaused(): Promise<boolean> {
    return (await this.open()).isPaused();
  }

  async clean(state: JobState, olderThanMs: number, limit: number): Promise<number> {
    const bull = bullState(state);
    if (!isCleanable(bull)) {
      throw new JobActionError(
        'invalid',
        `A BullMQ queue can be cleaned of ${CLEANABLE.join(', ')} jobs, not ${state}`,
      );
    }
    const removed = await (
      await this.open()
    ).clean(olderThanMs, limit, bull === 'waiting' ? 'wait' : bull);
    return removed.length;
  }

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    await (await opening?.catch(() => undefined))?.close();
  }
}
