import { WORKER_ID_PATTERN } from '../../config/worker-id.js';
import { batchScript } from '../batch-script.js';
import type { BullmqEvent } from './bullmq-derived-state.js';
import type { WorkerSnapshot, WorkerTotals } from '../../queue/queue-snapshot.js';

// The script that samples BullMQ queues, and what its reply becomes (see QueueSampler).

/** Keys and args of one queue in {@link SAMPLE_QUEUES}. */
export const SAMPLE_KEYS = 1;
export const SAMPLE_ARGS = 6;
/** Args {@link SAMPLE_QUEUES} takes once for all its queues: now (ms), max workers, stale limit. */
export const SAMPLE_SHARED_ARGS = 3;

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
local function readEvents(key, jobPrefix, start, maxEvents, known)
  local info = known or streamInfo(key)
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
 * Reads one queue (many in one run: {@link SAMPLE_QUEUES}), with read-only commands whose number depends neither on how
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
 * KEYS: the queue's key prefix `<prefix>:<queue>:` (every other key is built from it: with a
 *       hash-tag prefix they all share its Cluster slot)
 * ARGV, once for all queues: now (ms), max workers, stale limit; per queue: events cursor, max
 *       events, and what the caller read last: the totals' rev and until when its workers stand
 *       (ms), the events stream's last id and until when its counts stand (ms)
 *
 * Read only what changed: the counts (and the oldest job, the id counter) are read again only when
 * the events stream moved since the caller's last read (BullMQ adds an event at every state
 * change), a delayed job fell due, or the caller's bound passed; the workers, their totals and the
 * histograms only when the workers' `rev` moved (their report and leave scripts bump it), a
 * heartbeat expired, or the bound passed. An unchanged queue costs 3 or 4 commands.
 *
 * For workers without qscale telemetry the script also reads BullMQ's events stream from the
 * caller's cursor on (at most ARGV[7] entries, with each finished job's times): see
 * {@link BullmqDerivedState}. An empty cursor in the reply means nothing new was read.
 */
const SAMPLE_QUEUE_BODY = `
local base = KEYS[1]
local now = tonumber(shared[1])
local jobPrefix = base
-- The events stream: described in full (XINFO) when its events are read (workers without qscale
-- telemetry) or the caller's cursor starts; otherwise only its newest id, the counts' token.
local maxEvents = tonumber(ARGV[2])
local stream
if maxEvents > 0 or ARGV[1] == '' then
  stream = streamInfo((base .. 'events'))
else
  local newest = redis.call('XREVRANGE', (base .. 'events'), '+', '-', 'COUNT', 1)[1]
  -- An empty stream gives no token ('': the counts are read every time): a queue whose app keeps
  -- no events (BullMQ's streams.events.maxLen 0 trims each at once) must not look unchanged.
  stream = {'', 0, '', newest and newest[1] or ''}
end
-- Counts: every BullMQ state change adds an event, so while the stream's last id is the one the
-- caller saw (and no delayed job fell due, and the caller's bound has not passed) they stand.
local countsFresh = not (ARGV[5] ~= '' and stream[4] == ARGV[5] and now < tonumber(ARGV[6]))
local counts, enqueued, nextDue, blobBytes = {}, '', -1, ''
if countsFresh then
  local oldest = -1
  local function consider(ts)
    if ts and (oldest < 0 or ts < oldest) then oldest = ts end
  end
  local function jobTimestamp(id)
    if not id then return nil end
    return tonumber(redis.call('HGET', jobPrefix .. id, 'timestamp'))
  end
  local wait = redis.call('LLEN', (base .. 'wait'))
  local paused = redis.call('LLEN', (base .. 'paused'))
  local prioritized = redis.call('ZCARD', (base .. 'prioritized'))
  local active = redis.call('LLEN', (base .. 'active'))
  local delayed = redis.call('ZCARD', (base .. 'delayed'))
  local children = redis.call('ZCARD', (base .. 'waiting-children'))
  local completed = redis.call('ZCARD', (base .. 'completed'))
  local failed = redis.call('ZCARD', (base .. 'failed'))
  local due = 0
  if delayed > 0 then
    due = redis.call('ZCOUNT', (base .. 'delayed'), 0, (now + 1) * 4096 - 1)
    if due < delayed then
      local next = redis.call('ZRANGEBYSCORE', (base .. 'delayed'), (now + 1) * 4096, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      if next[2] then nextDue = math.floor(tonumber(next[2]) / 4096) end
    end
  end
  if wait > 0 then consider(jobTimestamp(redis.call('LINDEX', (base .. 'wait'), -1))) end
  if paused > 0 then consider(jobTimestamp(redis.call('LINDEX', (base .. 'paused'), -1))) end
  if prioritized > 0 then consider(jobTimestamp(redis.call('ZRANGE', (base .. 'prioritized'), 0, 0)[1])) end
  if due > 0 then
    local first = redis.call('ZRANGE', (base .. 'delayed'), 0, 0, 'WITHSCORES')
    consider(math.floor(tonumber(first[2]) / 4096))
  end
  local isPaused = redis.call('HEXISTS', (base .. 'meta'), 'paused')
  -- BullMQ >= 5 keeps a paused queue's jobs in wait and marks the queue paused in meta: report them
  -- as paused (the legacy paused list still counts too).
  if isPaused == 1 then
    paused = paused + wait
    wait = 0
  end
  counts = {wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest, isPaused}
  enqueued = redis.call('GET', (base .. 'id')) or '0'
  -- The upload API's blob bytes change with its uploads (jobs added) and deletions.
  blobBytes = redis.call('HGET', (base .. 'qscale:storage'), 'blobBytes') or '0'
end
-- Workers: every change to qscale's worker records goes through the workers' report and leave
-- scripts, which bump the totals' rev; while it is the one the caller saw (and no heartbeat has
-- expired since, and the caller's bound has not passed) its workers, totals and histograms stand.
-- No totals at all: no qscale worker ever reported ('none' stands until one does); totals without
-- a rev: workers of a version before it, read every time.
local rev = redis.call('HGET', (base .. 'qscale:workers:totals'), 'rev')
if not rev then rev = redis.call('EXISTS', (base .. 'qscale:workers:totals')) == 0 and 'none' or '' end
local workersFresh = not (rev ~= '' and rev == ARGV[3] and now < tonumber(ARGV[4]))
local workers, live, totals, stale, nextExpiry = {}, 0, {}, {}, -1
local completedHist, failedHist, waitHist = {}, {}, {}
if workersFresh then
  local maxWorkers = tonumber(shared[2])
  if maxWorkers > 0 then
    for _, id in ipairs(redis.call('ZRANGE', (base .. 'qscale:workers:started'), 0, 2 * maxWorkers - 1)) do
      local deadline = tonumber(redis.call('ZSCORE', (base .. 'qscale:workers'), id))
      if deadline and deadline >= now then
        workers[#workers + 1] = id
        workers[#workers + 1] = redis.call('HGETALL', (base .. 'qscale:worker:') .. id)
        if #workers >= 2 * maxWorkers then break end
      end
    end
  end
  local first = redis.call('ZRANGEBYSCORE', (base .. 'qscale:workers'), now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then
    nextExpiry = tonumber(first[2])
    live = redis.call('ZCOUNT', (base .. 'qscale:workers'), now, '+inf')
  end
  if live > 0 then
    local ids = redis.call('ZRANGEBYSCORE', (base .. 'qscale:workers'), '-inf', '(' .. shared[1], 'LIMIT', 0, tonumber(shared[3]))
    if #ids > 0 then
      for _, value in ipairs(redis.call('HMGET', (base .. 'qscale:workers:contributions'), unpack(ids))) do
        if value then stale[#stale + 1] = value end
      end
    end
  end
  totals = redis.call('HGETALL', (base .. 'qscale:workers:totals'))
  completedHist = redis.call('HGETALL', (base .. 'qscale:histogram:processing:completed'))
  failedHist = redis.call('HGETALL', (base .. 'qscale:histogram:processing:failed'))
  waitHist = redis.call('HGETALL', (base .. 'qscale:histogram:wait'))
end
local flags = {countsFresh and 1 or 0, workersFresh and 1 or 0, rev, nextDue, nextExpiry, stream[4]}
-- Nothing read again and no events wanted: the flags alone (the reply costs Redis too).
if not countsFresh and not workersFresh and maxEvents == 0 and ARGV[1] ~= '' then return flags end
return {
  counts,
  enqueued,
  workers,
  completedHist,
  failedHist,
  waitHist,
  {live, totals, stale},
  (maxEvents > 0 or ARGV[1] == '') and readEvents((base .. 'events'), jobPrefix, ARGV[1], maxEvents, stream)
    or {'', {}, -2, stream},
  blobBytes,
  flags,
}
`;

/** {@link SAMPLE_QUEUE_BODY} for many queues in one run (see `batchScript`). */
export const SAMPLE_QUEUES = batchScript(
  READ_EVENTS,
  SAMPLE_QUEUE_BODY,
  SAMPLE_KEYS,
  SAMPLE_ARGS,
  SAMPLE_SHARED_ARGS,
);

/** Reads more of a queue's events stream when one sample's share did not reach its end. */
export const CATCH_UP_EVENTS = `${READ_EVENTS}
return readEvents(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]))
`;

/** Expired ids not reaped yet whose contributions one sample subtracts from the totals. */
export const STALE_LIMIT = 100;

/**
 * {@link SAMPLE_QUEUE}'s reply. The last element says what was read: `[counts read (1/0), workers
 * read (1/0), the totals' rev ('' when the workers keep none), when the next delayed job falls due
 * (ms, -1: none), when the first live heartbeat expires (ms, -1: none), the events stream's last
 * id]`; what was not read is empty and stands as the caller last read it. When nothing was read
 * again (and no event was wanted) the reply is that last element alone.
 */
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
  Flags,
];

/** The last element of {@link SampleReply} (see there). */
export type Flags = [number, number, string, number, number, string];

/**
 * `readEvents`' reply: cursor, events, entries read (-1: the cursor was set to the newest id; -2:
 * the stream was not read, its events are not wanted now), the stream before the read.
 */
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
