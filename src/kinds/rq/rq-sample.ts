import { batchScript } from '../batch-script.js';
import { parseRqTime } from './rq-job-fields.js';
import type { QueueKeys } from '../../queue/queue-keys.js';
import type { QueueSnapshot } from '../../queue/queue-snapshot.js';
import {
  type RqDerivedState,
  type RqFinishedEntry,
  type RqWorkerRecord,
} from './rq-derived-state.js';

/**
 * Reads one Python RQ queue (RQ ≥ 1.13; many in one run: {@link SAMPLE_RQ_QUEUES}), read-only, from RQ's own keys:
 * - LLEN of `rq:queue:<name>` (what `len(Queue(name))` answers) and the `enqueued_at` of the job
 *   at its head (the next to run); ZCARD of the started (`wip`), finished, failed, deferred,
 *   scheduled and canceled registries; whether workers are suspended (`rq:suspended`);
 * - the finished and failed registry entries from the caller's cursor score on (at most `limit`
 *   each), with their jobs' `enqueued_at`/`started_at`/`ended_at`; on the first read (cursor '')
 *   only the newest score and the ids at it, so that history is not counted;
 * - the hashes of at most `maxWorkers` workers listening on the queue (`rq:workers:<name>`, in name
 *   order), skipping the expired and the dead, with their current job's `started_at` and `origin`.
 *
 * KEYS: queue, wip, finished, failed, deferred, scheduled, canceled, workers of the queue,
 *       rq:suspended
 * ARGV: finished cursor, failed cursor, finished limit, failed limit, max workers
 */
const SAMPLE_RQ_QUEUE_BODY = `
local function jobKey(id) return 'rq:job:' .. id end
local len = redis.call('LLEN', KEYS[1])
local headEnqueued = ''
if len > 0 then
  local head = redis.call('LINDEX', KEYS[1], 0)
  if head then headEnqueued = redis.call('HGET', jobKey(head), 'enqueued_at') or '' end
end
local function since(key, from, limit)
  if from == '' then
    local top = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
    if not top[2] then return {'', {}} end
    local ids = redis.call('ZRANGEBYSCORE', key, top[2], top[2], 'LIMIT', 0, tonumber(limit))
    local out = {}
    for i = 1, #ids do out[i] = {ids[i], top[2]} end
    return {top[2], out}
  end
  local flat = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(limit))
  local out = {}
  for i = 1, #flat, 2 do
    local h = redis.call('HMGET', jobKey(flat[i]), 'enqueued_at', 'started_at', 'ended_at')
    out[#out + 1] = {flat[i], flat[i + 1], h[1] or '', h[2] or '', h[3] or ''}
  end
  return {'', out}
end
local members = redis.call('SMEMBERS', KEYS[8])
table.sort(members)
local workers = {}
local maxWorkers = tonumber(ARGV[5])
for i = 1, math.min(#members, maxWorkers) do
  local w = redis.call('HMGET', members[i], 'state', 'current_job', 'successful_job_count',
    'failed_job_count', 'total_working_time', 'last_heartbeat', 'birth', 'death')
  if w[7] and not w[8] then
    local started, origin = '', ''
    if w[2] and w[2] ~= '' then
      local j = redis.call('HMGET', jobKey(w[2]), 'started_at', 'origin')
      started, origin = j[1] or '', j[2] or ''
    end
    workers[#workers + 1] = {members[i], w[1] or '', w[2] or '', w[3] or '0', w[4] or '0',
      w[5] or '0', w[6] or '', w[7], started, origin}
  end
end
return {
  {len, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]),
   redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6]), redis.call('ZCARD', KEYS[7]),
   redis.call('EXISTS', KEYS[9]), #members, math.min(#members, maxWorkers)},
  headEnqueued,
  since(KEYS[3], ARGV[1], ARGV[3]),
  since(KEYS[4], ARGV[2], ARGV[4]),
  workers,
}
`;

/** Keys and args of one queue in {@link SAMPLE_RQ_QUEUES}. */
export const RQ_SAMPLE_KEYS = 9;
export const RQ_SAMPLE_ARGS = 5;

/** {@link SAMPLE_RQ_QUEUE_BODY} for many queues in one run (see `batchScript`). */
export const SAMPLE_RQ_QUEUES = batchScript(
  '',
  SAMPLE_RQ_QUEUE_BODY,
  RQ_SAMPLE_KEYS,
  RQ_SAMPLE_ARGS,
);

export type RqSampleReply = [
  number[],
  string,
  [string, RqFinishedEntry[]],
  [string, RqFinishedEntry[]],
  string[][],
];

/** The script's keys for one RQ queue. */
export function rqSampleKeys(keys: QueueKeys): string[] {
  return [
    keys.rq('queue'),
    keys.rq('wip'),
    keys.rq('finished'),
    keys.rq('failed'),
    keys.rq('deferred'),
    keys.rq('scheduled'),
    keys.rq('canceled'),
    keys.rq('workers'),
    `${keys.prefix}:suspended`,
  ];
}

/** The parsed parts of an RQ sample reply. */
export interface RqSample {
  length: number;
  started: number;
  finished: number;
  failed: number;
  deferred: number;
  scheduled: number;
  canceled: number;
  suspended: boolean;
  /** Members of `rq:workers:<name>` (the dead not yet cleaned included). */
  registered: number;
  /** How many of them were read. */
  read: number;
  /** `enqueued_at` of the job at the head of the queue, epoch ms. */
  headEnqueuedAt?: number;
  workers: RqWorkerRecord[];
}

const toNumber = (value: string | undefined): number => {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
};

export function parseRqSample(reply: RqSampleReply): RqSample {
  const [counts, head, , , workers] = reply;
  const [
    length,
    started,
    finished,
    failed,
    deferred,
    scheduled,
    canceled,
    suspended,
    registered,
    read,
  ] = counts.map(Number) as number[];
  const headEnqueuedAt = parseRqTime(head);
  return {
    length: length!,
    started: started!,
    finished: finished!,
    failed: failed!,
    deferred: deferred!,
    scheduled: scheduled!,
    canceled: canceled!,
    suspended: suspended === 1,
    registered: registered!,
    read: read!,
    ...(headEnqueuedAt !== undefined && { headEnqueuedAt }),
    workers: workers.map((w) => {
      const currentJobStartedAt = parseRqTime(w[8]);
      return {
        name: w[0]!.replace(/^rq:worker:/, ''),
        state: w[1]!,
        currentJob: w[2]!,
        successful: toNumber(w[3]),
        failed: toNumber(w[4]),
        totalWorkingTime: toNumber(w[5]),
        lastHeartbeat: parseRqTime(w[6]) ?? 0,
        birth: parseRqTime(w[7]) ?? 0,
        ...(currentJobStartedAt !== undefined && { currentJobStartedAt }),
        ...(w[9] && { currentJobQueue: w[9] }),
      };
    }),
  };
}

/**
 * One RQ queue's snapshot from its sample reply: `state` keeps the registries' cursors and the
 * derived histograms between samples; at most `maxWorkers` workers are listed.
 */
export function rqSnapshot(
  keys: QueueKeys,
  now: number,
  reply: RqSampleReply,
  state: RqDerivedState,
  maxWorkers: number,
): QueueSnapshot {
  const queue = keys.queue;
  const rq = parseRqSample(reply);
  for (const [cursor, [newest, entries]] of [
    [state.finished, reply[2]],
    [state.failed, reply[3]],
  ] as const) {
    if (cursor.score === undefined) cursor.begin(newest, entries);
  }
  const finishedNow = state.ingest(reply[2][1], reply[3][1]);
  const enqueuedTotal = state.countArrivals(rq.length + rq.started, finishedNow);
  const workers = state.workers(queue, now, rq.workers);
  // Workers beyond maxWorkers were not read: counted as live and idle.
  const unread = Math.max(0, rq.registered - rq.read);
  const live = workers.length + unread;
  const busy = workers.reduce((sum, w) => sum + w.busy, 0);
  const utilized = workers.reduce((sum, w) => sum + w.utilization, 0);
  const histograms = state.snapshot();
  return {
    queue,
    prefix: keys.prefix,
    kind: 'rq',
    sampledAt: now,
    counts: {
      wait: rq.length,
      paused: 0,
      prioritized: 0,
      active: rq.started,
      delayed: rq.scheduled,
      'waiting-children': rq.deferred,
      completed: rq.finished,
      failed: rq.failed,
    },
    delayedDue: 0,
    // What `len(Queue(name))` answers: the jobs in the queue's list.
    backlog: rq.length,
    oldestJobAgeSeconds:
      rq.length > 0 && rq.headEnqueuedAt !== undefined
        ? Math.max(0, (now - rq.headEnqueuedAt) / 1000)
        : 0,
    paused: rq.suspended,
    enqueuedTotal,
    telemetry: 'derived',
    derived: {
      from: "RQ's finished/failed registries and the jobs' enqueued_at/started_at/ended_at; workers from rq:workers:<queue> and each worker's hash (state, current_job, total_working_time)",
      workersKnown: true,
      workerNames: [],
      concurrencyEstimated: false,
      eventsMissed: 0,
    },
    workers: workers.slice(0, maxWorkers),
    workerTotals: {
      live,
      busyWorkers: busy,
      busy,
      concurrency: live,
      utilization: live > 0 ? Math.min(1, utilized / live) : 0,
      completed: histograms.processing.completed.count,
      failed: histograms.processing.failed.count,
    },
    ...histograms,
  };
}
