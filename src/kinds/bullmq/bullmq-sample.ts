import { WORKER_ID_PATTERN } from '../../config/worker-id.js';
import type { BullmqEvent } from './bullmq-derived-state.js';
import type { WorkerSnapshot, WorkerTotals } from '../../queue/queue-snapshot.js';

// The script that samples one BullMQ queue, and what its reply becomes (see QueueSampler).

/**
 * Lua: `readEvents(key, jobPrefix, start, max)` reads BullMQ's events stream for workers without
 * qscale telemetry: from `start` (inclusive) at most `max` entries, keeping the `active` events and
 * the `completed`/`failed` ones with their job's `processedOn`, `finishedOn`, `timestamp`, `delay`
 * and `ats` (started attempts). With `start` '' (the first read) or `max` 0 it reads nothing and
 * answers the newest id, so that a cursor keeps up for free. Returns `{cursor, events, entries
 * read (-1: none, the cursor was set to the newest id), stream}` where stream is what XINFO STREAM
 * said before the read: `{entries-added ('' before Redis 7), length, first id, last id}`; the cursor
 * is '' when nothing new was read.
 */
const READ_EVENTS = `
local function streamInfo(key)
  local ok, info = pcall(redis.call, 'XINFO', 'STREAM', key)
  -- No stream yet: nothing was ever added.
  if not ok then return {'0', 0, '', '0-0'} end
  local added, length, first, last = '', 0, '', '0-0'
  for i = 1, #info - 1, 2 do
    local name = info[i]
    if name == 'entries-added' then added = tostring(info[i + 1])
    elseif name == 'length' then length = info[i + 1]
    elseif name == 'first-entry' and info[i + 1] then first = info[i + 1][1] or ''
    elseif name == 'last-generated-id' then last = info[i + 1] end
  end
  return {added, length, first, last}
end
local function readEvents(key, jobPrefix, start, maxEvents)
  local info = streamInfo(key)
  if start == '' or maxEvents == 0 then
    return {info[4], {}, -1, info}
  end
  local entries = redis.call('XRANGE', key, start, '+', 'COUNT', maxEvents)
  local cursor = ''
  local events = {}
  for _, entry in ipairs(entries) do
    cursor = entry[1]
    local fields = entry[2]
    local event, jobId
    for i = 1, #fields - 1, 2 do
      if fields[i] == 'event' then event = fields[i + 1]
      elseif fields[i] == 'jobId' then jobId = fields[i + 1] end
    end
    if jobId and (event == 'completed' or event == 'failed') then
      local h = redis.call('HMGET', jobPrefix .. jobId, 'processedOn', 'finishedOn', 'timestamp', 'delay', 'ats')
      events[#events + 1] = {entry[1], event, jobId, h[1] or '', h[2] or '', h[3] or '', h[4] or '', h[5] or ''}
    elseif jobId and event == 'active' then
      events[#events + 1] = {entry[1], event, jobId}
    end
  end
  return {cursor, events, #entries, info}
end
`;

/**
 * Reads one queue in one script run, with read-only commands whose number depends neither on how
 * many jobs there are nor on how many workers: LLEN/ZCARD/ZCOUNT per state, the head of each
 * backlog list and its job's `timestamp`, BullMQ's id counter, the three histograms, and of the
 * workers:
 * - the totals the workers keep (one HGETALL), the live count (ZCOUNT of the live set from now),
 *   and the contributions of at most {@link STALE_LIMIT} ids whose heartbeat expired but that no
 *   worker has reaped yet (one HMGET), which the reader subtracts from the totals;
 * - the telemetry hashes of at most `maxWorkers` live workers, the longest-running first (the
 *   by-start set, checking each id's liveness with ZSCORE; at most 2 × `maxWorkers` ids are
 *   looked at, so a crowd of expired ids not yet reaped may list fewer for a moment).
 *
 * The delayed set's score is the due time in ms × 4096 plus a 12-bit counter, so the jobs already
 * due are `ZCOUNT delayed 0 ((now+1)*4096 - 1)`. With a hash-tag prefix all of a queue's keys, the
 * job and worker keys the script builds included, share one Cluster slot. On a Cluster the queues
 * are grouped by the master that owns their slot: one pipelined request per master, in parallel.
 *
 * KEYS: wait, paused, prioritized, active, delayed, waiting-children, completed, failed, meta, id,
 *       workers, histogram processing:completed, processing:failed, wait, worker totals, worker
 *       contributions, workers by start, events, storage (the upload API's blob byte total)
 * ARGV: job key prefix (`<prefix>:<queue>:`), worker key prefix, now (ms), max workers, stale limit,
 *       events cursor, max events
 *
 * For workers without qscale telemetry the script also reads BullMQ's events stream from the
 * caller's cursor on (at most ARGV[7] entries, with each finished job's times): see
 * {@link BullmqDerivedState}. An empty cursor in the reply means nothing new was read.
 */
export const SAMPLE_QUEUE = `${READ_EVENTS}
local now = tonumber(ARGV[3])
local jobPrefix = ARGV[1]
local oldest = -1
local function consider(ts)
  if ts and (oldest < 0 or ts < oldest) then oldest = ts end
end
local function jobTimestamp(id)
  if not id then return nil end
  return tonumber(redis.call('HGET', jobPrefix .. id, 'timestamp'))
end
local wait = redis.call('LLEN', KEYS[1])
local paused = redis.call('LLEN', KEYS[2])
local prioritized = redis.call('ZCARD', KEYS[3])
local active = redis.call('LLEN', KEYS[4])
local delayed = redis.call('ZCARD', KEYS[5])
local children = redis.call('ZCARD', KEYS[6])
local completed = redis.call('ZCARD', KEYS[7])
local failed = redis.call('ZCARD', KEYS[8])
local due = redis.call('ZCOUNT', KEYS[5], 0, (now + 1) * 4096 - 1)
if wait > 0 then consider(jobTimestamp(redis.call('LINDEX', KEYS[1], -1))) end
if paused > 0 then consider(jobTimestamp(redis.call('LINDEX', KEYS[2], -1))) end
if prioritized > 0 then consider(jobTimestamp(redis.call('ZRANGE', KEYS[3], 0, 0)[1])) end
if due > 0 then
  local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  consider(math.floor(tonumber(first[2]) / 4096))
end
local isPaused = redis.call('HEXISTS', KEYS[9], 'paused')
-- BullMQ >= 5 keeps a paused queue's jobs in wait and marks the queue paused in meta: report them
-- as paused (the legacy paused list still counts too).
if isPaused == 1 then
  paused = paused + wait
  wait = 0
end
local enqueued = redis.call('GET', KEYS[10]) or '0'
local maxWorkers = tonumber(ARGV[4])
local workers = {}
if maxWorkers > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[17], 0, 2 * maxWorkers - 1)) do
    local deadline = tonumber(redis.call('ZSCORE', KEYS[11], id))
    if deadline and deadline >= now then
      workers[#workers + 1] = id
      workers[#workers + 1] = redis.call('HGETALL', ARGV[2] .. id)
      if #workers >= 2 * maxWorkers then break end
    end
  end
end
local live = redis.call('ZCOUNT', KEYS[11], now, '+inf')
local stale = {}
if live > 0 then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[11], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[5]))
  if #ids > 0 then
    for _, value in ipairs(redis.call('HMGET', KEYS[16], unpack(ids))) do
      if value then stale[#stale + 1] = value end
    end
  end
end
return {
  {wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest, isPaused},
  enqueued,
  workers,
  redis.call('HGETALL', KEYS[12]),
  redis.call('HGETALL', KEYS[13]),
  redis.call('HGETALL', KEYS[14]),
  {live, redis.call('HGETALL', KEYS[15]), stale},
  readEvents(KEYS[18], jobPrefix, ARGV[6], tonumber(ARGV[7])),
  redis.call('HGET', KEYS[19], 'blobBytes') or '0',
}
`;

/** Reads more of a queue's events stream when one sample's share did not reach its end. */
export const CATCH_UP_EVENTS = `${READ_EVENTS}
return readEvents(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]))
`;

/** Expired ids not reaped yet whose contributions one sample subtracts from the totals. */
export const STALE_LIMIT = 100;

/** {@link SAMPLE_QUEUE}'s reply. */
export type SampleReply = [
  number[],
  string,
  (string | string[])[],
  string[],
  string[],
  string[],
  [number, string[], string[]],
  EventsReply,
  string,
];

/** `readEvents`' reply: cursor, events, entries read (-1: reset), the stream before the read. */
export type EventsReply = [string, BullmqEvent[], number, [string, number, string, string]];

/** One worker of the reply's list, when it is safe to report. */
export function toWorker(id: string, flat: string[]): WorkerSnapshot | undefined {
  // The record may expire between the ZRANGEBYSCORE and the HGETALL, and anyone with write access
  // could add ids: only safe label values with a record are reported.
  if (flat.length === 0 || !WORKER_ID_PATTERN.test(id)) return undefined;
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  const num = (name: string) => {
    const value = Number(fields[name] ?? 0);
    return Number.isFinite(value) ? value : 0;
  };
  return {
    id,
    concurrency: num('concurrency'),
    busy: num('busy'),
    busySeconds: num('busySeconds'),
    utilization: num('utilization'),
    completed: num('completed'),
    failed: num('failed'),
    cpuSeconds: num('cpuSeconds'),
    startedAt: num('startedAt'),
    heartbeatAt: num('heartbeatAt'),
    oldestJobStartedAt: num('oldestJobStartedAt'),
  };
}

/**
 * The totals over the live workers: the workers' totals hash, less the contributions of expired
 * ids that no worker has reaped yet (`<instance>,<concurrency>,<busy>,<utilization × concurrency>`).
 * With no live worker every gauge is 0, however many expired ids wait to be reaped.
 */
export function toTotals([live, flat, stale]: SampleReply[6]): WorkerTotals {
  const fields: Record<string, number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const value = Number(flat[i + 1]);
    fields[flat[i]!] = Number.isFinite(value) ? value : 0;
  }
  const get = (name: string) => fields[name] ?? 0;
  let concurrency = get('concurrency');
  let busy = get('busy');
  let busyWorkers = get('busyWorkers');
  let utilizedSlots = get('utilizedSlots');
  for (const value of stale) {
    const [, c, b, u] = value.split(',').map(Number);
    if (![c, b, u].every(Number.isFinite)) continue;
    concurrency -= c!;
    busy -= b!;
    if (b! > 0) busyWorkers--;
    utilizedSlots -= u!;
  }
  const count = Number(live);
  if (count === 0) concurrency = busy = busyWorkers = utilizedSlots = 0;
  concurrency = Math.max(0, concurrency);
  // Float residue of many increments: 1e-9 of a slot is nothing.
  utilizedSlots = Math.max(0, Math.round(utilizedSlots * 1e9) / 1e9);
  return {
    live: count,
    busyWorkers: Math.max(0, busyWorkers),
    busy: Math.max(0, busy),
    concurrency,
    utilization: concurrency > 0 ? Math.min(1, utilizedSlots / concurrency) : 0,
    completed: get('completed'),
    failed: get('failed'),
  };
}
