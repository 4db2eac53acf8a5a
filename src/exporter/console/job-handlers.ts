import { ApiError } from '../../http/api-error.js';
import { isRedisUnavailable } from '../../redis/redis-errors.js';
import type { ApiResponse } from '../../http/api-types.js';
import {
  JobActionError,
  type JobAction,
  type JobState,
  type QueueJobs,
} from '../../queue/queue-jobs.js';
import { driverOf } from '../../kinds/registry.js';
import type { ConsoleContext, ConsoleRequest } from './console-context.js';

/**
 * The longest job id the console takes. BullMQ and RQ take any string an app chooses as a job id
 * (`order 123`, `a/b`, `100%`, …), URL-encoded in the path; this bound only keeps a request line
 * within Node's header limit (16 KiB, where one character may take 12 bytes encoded).
 */
const MAX_JOB_ID_CHARS = 1024;
const MAX_SEARCH = 200;

function queueOf(ctx: ConsoleContext, req: ConsoleRequest): QueueJobs {
  const name = req.params.queue ?? '';
  const jobs = ctx.jobs.get(name);
  if (!jobs) {
    throw new ApiError(
      404,
      'queue_not_found',
      `"${name.slice(0, 100)}" is not a queue this sidecar watches; watched: ${[...ctx.jobs.keys()].join(', ')}`,
    );
  }
  return jobs;
}

function jobIdOf(req: ConsoleRequest): string {
  const id = req.params.id ?? '';
  if (id.length === 0 || id.length > MAX_JOB_ID_CHARS) {
    throw new ApiError(
      400,
      'invalid_job_id',
      `A job id is 1 to ${MAX_JOB_ID_CHARS} characters (URL-encoded in the path)`,
    );
  }
  return id;
}

function stateOf(jobs: QueueJobs, raw: unknown, fallback?: JobState): JobState {
  const states = driverOf(jobs.kind).jobStates;
  if (raw === undefined && fallback !== undefined) return fallback;
  if (typeof raw === 'string' && (states as readonly string[]).includes(raw))
    return raw as JobState;
  throw new ApiError(
    400,
    'invalid_state',
    `"state" must be one of ${states.join(', ')} (the states of ${driverOf(jobs.kind).nouns.withArticle} queue)`,
  );
}

function intOf(raw: unknown, name: string, fallback: number | undefined, min: number, max: number) {
  if (raw === undefined && fallback !== undefined) return fallback;
  const value =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && /^\d+$/.test(raw)
        ? Number(raw)
        : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ApiError(
      400,
      'invalid_parameter',
      `"${name}" must be a whole number from ${min} to ${max}${fallback === undefined ? ' (required)' : ''}`,
    );
  }
  return value;
}

function requireSupported(jobs: QueueJobs, action: JobAction): void {
  if (!jobs.supported.includes(action)) {
    throw new ApiError(
      400,
      'unsupported_action',
      `${driverOf(jobs.kind).nouns.label} queues do not support "${action}"; this queue supports ${jobs.supported.join(', ')}${driverOf(jobs.kind).nouns.refusedActions ? `. ${driverOf(jobs.kind).nouns.refusedActions}` : ''}`,
    );
  }
}

/** Maps what the job layer refused to the HTTP answer. */
function mapped<T>(promise: Promise<T>): Promise<T> {
  return promise.catch((error: unknown) => {
    if (error instanceof JobActionError) {
      const [status, code] =
        error.reason === 'not_found'
          ? [404, 'job_not_found']
          : error.reason === 'conflict'
            ? [409, 'job_state_conflict']
            : [400, error.reason === 'unsupported' ? 'unsupported_action' : 'invalid_parameter'];
      throw new ApiError(status, code, error.message);
    }
    throw error;
  });
}

/**
 * GET /api/v1/queues: the watched queues, whether each is paused, and what this client may do.
 * Answers 200 while Redis is down too (`redisUp: false`, `paused: null`): the queues and the
 * permission are known without it.
 */
export async function listQueues(ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> {
  let redisUp = true;
  const queues = await Promise.all(
    [...ctx.jobs.values()].map(async (jobs) => ({
      name: jobs.queue,
      kind: jobs.kind,
      kindLabel: driverOf(jobs.kind).nouns.label,
      states: driverOf(jobs.kind).jobStates,
      cleanable: driverOf(jobs.kind).cleanableStates,
      actions: jobs.supported,
      paused: await jobs.isPaused().catch(() => {
        redisUp = false;
        return null;
      }),
    })),
  );
  return {
    status: 200,
    body: { redisUp, queues, permission: ctx.access.permission(req.raw) },
  };
}

/** GET /api/v1/queues/:queue/jobs?state=failed&limit=20&cursor=…&search=… */
export async function listJobs(ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> {
  const jobs = queueOf(ctx, req);
  const state = stateOf(jobs, req.query.state, 'failed');
  const limit = intOf(req.query.limit, 'limit', 20, 1, 100);
  const cursor =
    req.query.cursor === undefined
      ? 0
      : intOf(req.query.cursor, 'cursor', undefined, 0, Number.MAX_SAFE_INTEGER);
  const search = req.query.search;
  if (search !== undefined && (typeof search !== 'string' || search.length > MAX_SEARCH)) {
    throw new ApiError(
      400,
      'invalid_parameter',
      `"search" must be text of at most ${MAX_SEARCH} characters`,
    );
  }
  const page = await mapped(
    jobs.list({ state, limit, cursor, ...(search !== undefined && { search: search.trim() }) }),
  );
  return { status: 200, body: { queue: jobs.queue, ...page } };
}

/**
 * GET /api/v1/queues/:queue/history?seconds=300: the stored points of the last `seconds` (60 to
 * 86 400), oldest first; `enabled: false` and no points when the sidecar keeps no history.
 */
export async function getHistory(ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> {
  const jobs = queueOf(ctx, req);
  const seconds = intOf(req.query.seconds, 'seconds', 300, 60, 86_400);
  if (!ctx.history) {
    return {
      status: 200,
      body: { queue: jobs.queue, enabled: false, stepSeconds: null, points: [] },
    };
  }
  const history = await ctx.history(jobs.queue, seconds);
  return {
    status: 200,
    body: {
      queue: jobs.queue,
      enabled: true,
      fields: [
        't',
        'backlog',
        'active',
        'donePerSecond',
        'enqueuedPerSecond',
        'workersLive',
        'workersDesired',
      ],
      ...history,
    },
  };
}

/** GET /api/v1/queues/:queue/jobs/:id */
export async function getJob(ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> {
  const jobs = queueOf(ctx, req);
  const id = jobIdOf(req);
  const job = await mapped(jobs.get(id));
  if (!job) {
    throw new ApiError(404, 'job_not_found', `No job "${id}" in queue ${jobs.queue}`);
  }
  return { status: 200, body: { queue: jobs.queue, job } };
}

/** Runs one action and logs it for the audit trail, whatever its outcome. */
async function audited(
  ctx: ConsoleContext,
  req: ConsoleRequest,
  jobs: QueueJobs,
  action: JobAction,
  run: () => Promise<Record<string, unknown>>,
  jobId?: string,
): Promise<ApiResponse> {
  requireSupported(jobs, action);
  const entry = {
    action,
    queue: jobs.queue,
    ...(jobId !== undefined && { job: jobId }),
    by: req.actor,
    from: req.raw.socket.remoteAddress,
  };
  try {
    const result = await mapped(run());
    ctx.logger.info({ audit: { ...entry, outcome: 'done', ...result } }, `console: ${action} done`);
    return { status: 200, body: { action, queue: jobs.queue, ...result } };
  } catch (error) {
    if (isRedisUnavailable(error)) {
      // Sent but not answered in time: a frozen Redis runs it when it wakes up. Say so.
      ctx.logger.warn(
        { audit: { ...entry, outcome: 'unknown', error: (error as Error).message } },
        `console: ${action} unanswered`,
      );
      throw new ApiError(
        503,
        'redis_unavailable',
        `Redis did not answer in time: the ${action} may or may not have been applied (it may still be when Redis answers again). Reload to see the state before trying again.`,
        { headers: { 'Retry-After': '5' } },
      );
    }
    ctx.logger.warn(
      { audit: { ...entry, outcome: 'refused', error: (error as Error).message } },
      `console: ${action} refused`,
    );
    throw error;
  }
}

/** The job's state after an action: `removed` when it is gone, `unknown` when it cannot be read. */
async function stateAfter(jobs: QueueJobs, id: string): Promise<string> {
  try {
    return (await jobs.get(id))?.state ?? 'removed';
  } catch {
    return 'unknown';
  }
}

export function jobAction(action: 'retry' | 'remove' | 'promote') {
  return async (ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> => {
    const jobs = queueOf(ctx, req);
    const id = jobIdOf(req);
    return audited(
      ctx,
      req,
      jobs,
      action,
      async () => {
        await jobs[action](id);
        return { id, state: action === 'remove' ? 'removed' : await stateAfter(jobs, id) };
      },
      id,
    );
  };
}

/** POST /api/v1/queues/:queue/ack-failures: `qscale doctor` stops warning about these failures. */
export async function ackFailures(ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> {
  const jobs = queueOf(ctx, req);
  return audited(ctx, req, jobs, 'ack-failures', async () => ({
    acknowledgedAt: await jobs.acknowledgeFailures(),
  }));
}

/** POST /api/v1/queues/:queue/retry-failed */
export async function retryFailed(ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> {
  const jobs = queueOf(ctx, req);
  return audited(ctx, req, jobs, 'retry-failed', async () => ({
    count: await jobs.retryAllFailed(),
  }));
}

export function queuePause(action: 'pause' | 'resume') {
  return async (ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> => {
    const jobs = queueOf(ctx, req);
    return audited(ctx, req, jobs, action, async () => {
      await jobs[action]();
      return { paused: await jobs.isPaused() };
    });
  };
}

/** POST /api/v1/queues/:queue/clean {"state":"completed","olderThanSeconds":3600,"limit":1000} */
export async function cleanQueue(ctx: ConsoleContext, req: ConsoleRequest): Promise<ApiResponse> {
  const jobs = queueOf(ctx, req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(
      400,
      'invalid_body',
      'The body must be {"state": …, "olderThanSeconds": …, "limit": …}',
    );
  }
  const state = stateOf(jobs, body.state);
  const olderThanSeconds = intOf(body.olderThanSeconds, 'olderThanSeconds', undefined, 0, 10 ** 9);
  const limit = intOf(body.limit, 'limit', 1000, 1, 100_000);
  return audited(ctx, req, jobs, 'clean', async () => ({
    state,
    olderThanSeconds,
    count: await jobs.clean(state, olderThanSeconds * 1000, limit),
  }));
}
