import { DEFAULT_BUCKETS } from '../config/config.js';
import { connectedBullmqWorkers, type ConnectedWorkers } from './bullmq-workers.js';
import { BullmqDerivedState, RqDerivedState, type BullmqEvent } from './derived-telemetry.js';
import { isCluster, slotOf, type RedisClient } from './redis-connection.js';
import { parseHistogram } from './histogram-fields.js';
import type { QueueKeys } from './queue-keys.js';
import type {
  QueueSnapshot,
  RedisMemory,
  Sample,
  WorkerSnapshot,
  WorkerTotals,
} from './queue-snapshot.js';
import { parseRqSample, rqSampleKeys, SAMPLE_RQ_QUEUE, type RqSampleReply } from './rq-sample.js';

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
const SAMPLE_QUEUE = `${READ_EVENTS}
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
const CATCH_UP_EVENTS = `${READ_EVENTS}
return readEvents(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]))
`;

/** Expired ids not reaped yet whose contributions one sample subtracts from the totals. */
const STALE_LIMIT = 100;

type SampleReply = [
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
type EventsReply = [string, BullmqEvent[], number, [string, number, string, string]];

type SamplingRedis = RedisClient & {
  qscaleSampleQueue(...args: (string | number)[]): Promise<SampleReply>;
  qscaleSampleRqQueue(...args: (string | number)[]): Promise<RqSampleReply>;
  qscaleCatchUpEvents(...args: (string | number)[]): Promise<EventsReply>;
};

/**
 * Extra reads of a queue's events stream per sample when it is behind, at most: with the first,
 * 20 000 events, twice what BullMQ keeps by default (`streams.events.maxLen` 10 000), each its own
 * short script.
 */
const CATCH_UP_ROUNDS = 39;

/**
 * Events-stream entries one script reads at most, for workers without telemetry: ~500 finished-job
 * events cost Redis ~4 ms, so that no read blocks it for long.
 */
const MAX_EVENTS = 500;
/** Finished (and failed) RQ registry entries one sample reads at most per queue. */
const MAX_RQ_FINISHED = 1000;

const SAFE_WORKER_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export interface QueueSamplerOptions {
  /** How long a sample is reused, in ms. @defaultValue 1000 */
  ttlMs?: number;
  /** A read slower than this fails (and is not cached), in ms. @defaultValue 1000 */
  timeoutMs?: number;
  /**
   * At most this many live workers per queue are read one by one (their telemetry hashes, in
   * {@link QueueSnapshot.workers}): the longest-running first, so the list stays the same from one
   * sample to the next. Queue-level numbers ({@link QueueSnapshot.workerTotals}) count every live
   * worker whatever this is, at a cost that does not grow with the number of workers.
   * @defaultValue 100
   */
  maxWorkers?: number;
  /** Clock, for tests. @defaultValue Date.now */
  now?: () => number;
  /** Bucket bounds (seconds) of the histograms derived for workers without telemetry. */
  buckets?: readonly number[];
  /** Window of the utilization derived for RQ workers, in ms. @defaultValue 60000 */
  utilizationWindowMs?: number;
  /**
   * How long BullMQ's worker list (CLIENT LIST, O(connections)) is reused for queues whose workers
   * have no qscale telemetry, in ms. @defaultValue 5000
   */
  workerListTtlMs?: number;
  /**
   * Also read `INFO memory` (of every master on a Cluster, in parallel with the queues) into
   * {@link Sample.memory}: for the exporter. @defaultValue false
   */
  readMemory?: boolean;
}

/** The Redis read of a sample took longer than the timeout. */
export class SampleTimeoutError extends Error {
  constructor(ms: number) {
    super(`reading the queues from Redis took longer than ${ms} ms`);
    this.name = 'SampleTimeoutError';
  }
}

/** `used_memory` and `maxmemory` of an `INFO memory` answer (0 for a field it lacks). */
export function parseMemoryInfo(info: string): { usedBytes: number; maxBytes: number } {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}

function toWorker(id: string, flat: string[]): WorkerSnapshot | undefined {
  // The record may expire between the ZRANGEBYSCORE and the HGETALL, and anyone with write access
  // could add ids: only safe label values with a record are reported.
  if (flat.length === 0 || !SAFE_WORKER_ID.test(id)) return undefined;
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
function toTotals([live, flat, stale]: SampleReply[6]): WorkerTotals {
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

/**
 * Samples every configured queue — job counts, backlog and its oldest job, live workers, the
 * processing and wait histograms — in ONE Redis round trip (one script per queue, pipelined),
 * with read-only commands and a cost independent of the number of jobs. Concurrent callers share
 * one read, and a sample is reused for `ttlMs`. Used by the exporter, the KEDA scaler, the status
 * command and the API's backlog guard.
 */
export class QueueSampler {
  private readonly redis: SamplingRedis;
  private readonly queues: QueueKeys[];
  private readonly opts: Required<QueueSamplerOptions>;
  private readonly bullmqDerived = new Map<string, BullmqDerivedState>();
  private readonly rqDerived = new Map<string, RqDerivedState>();
  /** Whether each BullMQ queue's last sample found qscale telemetry. */
  private readonly instrumented = new Map<string, boolean>();
  private readonly workerLists = new Map<
    string,
    { at: number; reading: Promise<ConnectedWorkers> }
  >();
  private cached?: { at: number; sample: Sample };
  private reading?: Promise<Sample>;

  constructor(
    redis: RedisClient,
    queues: QueueKeys | QueueKeys[],
    options: QueueSamplerOptions = {},
  ) {
    const opts = {
      ttlMs: 1000,
      timeoutMs: 1000,
      maxWorkers: 100,
      now: Date.now,
      buckets: DEFAULT_BUCKETS,
      utilizationWindowMs: 60_000,
      workerListTtlMs: 5000,
      readMemory: false,
      ...options,
    };
    for (const name of [
      'ttlMs',
      'timeoutMs',
      'maxWorkers',
      'utilizationWindowMs',
      'workerListTtlMs',
    ] as const) {
      if (!Number.isFinite(opts[name]) || opts[name] < 0) {
        throw new RangeError(`QueueSampler ${name} must be a number ≥ 0, got ${opts[name]}`);
      }
    }
    this.redis = redis as SamplingRedis;
    if (typeof this.redis.qscaleSampleQueue !== 'function') {
      redis.defineCommand('qscaleSampleQueue', { numberOfKeys: 19, lua: SAMPLE_QUEUE });
    }
    if (typeof this.redis.qscaleCatchUpEvents !== 'function') {
      redis.defineCommand('qscaleCatchUpEvents', { numberOfKeys: 1, lua: CATCH_UP_EVENTS });
    }
    if (typeof this.redis.qscaleSampleRqQueue !== 'function') {
      redis.defineCommand('qscaleSampleRqQueue', { numberOfKeys: 9, lua: SAMPLE_RQ_QUEUE });
    }
    this.queues = Array.isArray(queues) ? queues : [queues];
    if (this.queues.length === 0) throw new RangeError('QueueSampler needs at least one queue');
    this.opts = opts;
    for (const k of this.queues) {
      if (k.kind === 'rq') {
        this.rqDerived.set(k.queue, new RqDerivedState(opts.buckets, opts.utilizationWindowMs));
      } else {
        this.bullmqDerived.set(k.queue, new BullmqDerivedState(opts.buckets));
      }
    }
  }

  /** Names of the sampled queues, in order. */
  get queueNames(): string[] {
    return this.queues.map((keys) => keys.queue);
  }

  /**
   * The latest sample, read from Redis when the cached one is older than `ttlMs` (or the caller's
   * `maxAgeMs`, when smaller). Rejects with a
   * {@link SampleTimeoutError} after `timeoutMs`; a slow read still in progress is shared by later
   * callers instead of being started again.
   */
  sample(options: { maxAgeMs?: number } = {}): Promise<Sample> {
    const cached = this.cached;
    const maxAge = Math.min(this.opts.ttlMs, options.maxAgeMs ?? Infinity);
    if (cached && this.opts.now() - cached.at < maxAge) {
      return Promise.resolve(cached.sample);
    }
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.withTimeout(this.reading);
  }

  /** The snapshot of one queue (the first one when no name is given). */
  async sampleQueue(name?: string): Promise<QueueSnapshot> {
    const sample = await this.sample();
    const snapshot =
      name === undefined ? sample.queues[0] : sample.queues.find((q) => q.queue === name);
    if (!snapshot) throw new RangeError(`queue ${JSON.stringify(name)} is not sampled`);
    return snapshot;
  }

  private async withTimeout(reading: Promise<Sample>): Promise<Sample> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SampleTimeoutError(this.opts.timeoutMs)),
        this.opts.timeoutMs,
      );
    });
    try {
      return await Promise.race([reading, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Queues grouped by the Redis node that serves them: one group on a single node; on a Cluster,
   * one group per master (a pipeline may only hold keys of one node's slots).
   */
  private groups(): QueueKeys[][] {
    const redis = this.redis as RedisClient;
    if (!isCluster(redis)) return [this.queues];
    // ioredis sends a pipeline only when all its keys' slots are in one of its node groups, and
    // rejects it otherwise. Right after a MOVED its `slots` lists can disagree with those groups
    // (it rewrites the node list that a whole slot range shares), so the groups themselves decide.
    const groupBySlot = (redis as unknown as { _groupsBySlot?: (number | undefined)[] })
      ._groupsBySlot;
    const byNode = new Map<string, QueueKeys[]>();
    for (const k of this.queues) {
      const slot = slotOf(k.bull('wait'));
      const group = groupBySlot ? groupBySlot[slot] : redis.slots[slot]?.join(',');
      // Not known yet (before the first slot map, or a node just named by a MOVED): alone.
      const node = group === undefined ? `unknown:${k.queue}` : `group:${group}`;
      byNode.set(node, [...(byNode.get(node) ?? []), k]);
    }
    return [...byNode.values()];
  }

  /** One pipelined request of one script per queue, to one node. */
  private async readGroup(group: QueueKeys[], now: number): Promise<QueueSnapshot[]> {
    const pipeline = this.redis.pipeline() as unknown as {
      qscaleSampleQueue(...args: (string | number)[]): unknown;
      qscaleSampleRqQueue(...args: (string | number)[]): unknown;
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const k of group) {
      const rq = this.rqDerived.get(k.queue);
      if (rq) {
        pipeline.qscaleSampleRqQueue(
          ...rqSampleKeys(k),
          rq.finished.start(),
          rq.failed.start(),
          MAX_RQ_FINISHED + rq.finished.extra,
          MAX_RQ_FINISHED + rq.failed.extra,
          this.opts.maxWorkers,
        );
        continue;
      }
      const derived = this.bullmqDerived.get(k.queue)!;
      pipeline.qscaleSampleQueue(
        k.bull('wait'),
        k.bull('paused'),
        k.bull('prioritized'),
        k.bull('active'),
        k.bull('delayed'),
        k.bull('waiting-children'),
        k.bull('completed'),
        k.bull('failed'),
        k.bull('meta'),
        k.bull('id'),
        k.workers(),
        k.histogram('processing:completed'),
        k.histogram('processing:failed'),
        k.histogram('wait'),
        k.workerTotals(),
        k.workerContributions(),
        k.workersByStart(),
        k.bull('events'),
        k.storage(),
        k.bull(''),
        k.workerPrefix(),
        now,
        this.opts.maxWorkers,
        STALE_LIMIT,
        derived.nextStart(),
        this.instrumented.get(k.queue) === false ? MAX_EVENTS : 0,
      );
    }
    const results = (await pipeline.exec()) ?? [];
    return Promise.all(
      group.map((k, i) => {
        const [error, reply] = results[i] ?? [new Error('no reply')];
        if (error) throw error;
        return k.kind === 'rq'
          ? this.toRqSnapshot(k, now, reply as RqSampleReply)
          : this.toSnapshot(k, now, reply as SampleReply);
      }),
    );
  }

  /**
   * Takes a sample's share of the events stream; when it filled MAX_EVENTS (the stream runs ahead
   * of the sidecar), reads on, at most CATCH_UP_ROUNDS more times, one bounded script each.
   */
  private async readEvents(
    keys: QueueKeys,
    derived: BullmqDerivedState,
    reply: EventsReply,
  ): Promise<void> {
    let [cursor, events, read, stream] = reply;
    for (let round = 0; ; round++) {
      const [added, length, first, last] = stream;
      derived.ingest({ cursor, events, read, stream: { added, length, first, last } });
      if (read < MAX_EVENTS || round >= CATCH_UP_ROUNDS) return;
      [cursor, events, read, stream] = await this.redis.qscaleCatchUpEvents(
        keys.bull('events'),
        keys.bull(''),
        derived.nextStart(),
        MAX_EVENTS,
      );
    }
  }

  /**
   * BullMQ's workers of a queue (CLIENT LIST), reused for `workerListTtlMs`: only asked for queues
   * whose workers have no qscale telemetry.
   */
  private connectedWorkers(keys: QueueKeys, now: number): Promise<ConnectedWorkers> {
    const cached = this.workerLists.get(keys.queue);
    if (cached && now - cached.at < this.opts.workerListTtlMs) return cached.reading;
    const reading = connectedBullmqWorkers(this.redis, keys);
    this.workerLists.set(keys.queue, { at: now, reading });
    return reading;
  }

  private async read(): Promise<Sample> {
    const started = performance.now();
    const now = this.opts.now();
    // Masters are read in parallel: one request per master, whatever the number of queues.
    const byQueue = new Map<string, QueueSnapshot>();
    const reading = Promise.all(this.groups().map((group) => this.readGroup(group, now)));
    const [groups, memory] = await Promise.all([
      reading,
      this.opts.readMemory ? this.readMemory(reading) : undefined,
    ]);
    for (const snapshot of groups.flat()) byQueue.set(snapshot.queue, snapshot);
    const sample: Sample = {
      sampledAt: now,
      durationSeconds: (performance.now() - started) / 1000,
      queues: this.queues.map((k) => byQueue.get(k.queue)!),
      ...(memory && { memory }),
    };
    this.cached = { at: now, sample };
    return sample;
  }

  /**
   * `INFO memory` of the Redis node, or of each master of a Cluster (in parallel): one read-only
   * command per node. Undefined when a node does not answer it (an ACL without INFO): the queue
   * numbers do not depend on it, so the sample goes on without. A Cluster client that does not know
   * its masters yet (the first read) learns them from the queues' read, `after`.
   */
  private async readMemory(after: Promise<unknown>): Promise<RedisMemory[] | undefined> {
    const redis = this.redis as RedisClient;
    if (isCluster(redis) && redis.nodes('master').length === 0) {
      await after.catch(() => undefined);
    }
    const nodes = isCluster(redis)
      ? redis
          .nodes('master')
          .map((client) => ({ node: `${client.options.host}:${client.options.port}`, client }))
      : [{ node: '', client: redis }];
    if (nodes.length === 0) return undefined;
    try {
      return await Promise.all(
        nodes.map(async ({ node, client }) => ({
          node,
          ...parseMemoryInfo(await client.info('memory')),
        })),
      );
    } catch {
      return undefined;
    }
  }

  private async toSnapshot(
    keys: QueueKeys,
    now: number,
    reply: SampleReply,
  ): Promise<QueueSnapshot> {
    const queue = keys.queue;
    const [
      counts,
      enqueued,
      workerList,
      completedHist,
      failedHist,
      waitHist,
      fleet,
      stream,
      blobBytes,
    ] = reply;
    const [wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest] =
      counts.map(Number) as number[];
    const workers: WorkerSnapshot[] = [];
    for (let i = 0; i + 1 < workerList.length; i += 2) {
      const worker = toWorker(workerList[i] as string, workerList[i + 1] as string[]);
      if (worker) workers.push(worker);
    }
    const totals = toTotals(fleet);
    const processing = {
      completed: parseHistogram(completedHist),
      failed: parseHistogram(failedHist),
    };
    const waitHistogram = parseHistogram(waitHist);
    const derived = this.bullmqDerived.get(queue)!;
    await this.readEvents(keys, derived, stream);
    // qscale telemetry: a live heartbeat, or histograms that instrumented workers wrote.
    const instrumented =
      totals.live > 0 ||
      processing.completed.count + processing.failed.count + waitHistogram.count > 0;
    this.instrumented.set(queue, instrumented);
    const backlog = wait! + paused! + prioritized! + due!;
    const base = {
      queue,
      prefix: keys.prefix,
      kind: 'bullmq' as const,
      sampledAt: now,
      counts: {
        wait: wait!,
        paused: paused!,
        prioritized: prioritized!,
        active: active!,
        delayed: delayed!,
        'waiting-children': children!,
        completed: completed!,
        failed: failed!,
      },
      delayedDue: due!,
      backlog,
      oldestJobAgeSeconds: oldest! >= 0 ? Math.max(0, (now - oldest!) / 1000) : 0,
      paused: counts[10] === 1,
      enqueuedTotal: Number(enqueued) || 0,
      blobBytes: Number(blobBytes) || 0,
    };
    if (instrumented) {
      return {
        ...base,
        telemetry: 'instrumented',
        workers,
        workerTotals: totals,
        processing,
        wait: waitHistogram,
      };
    }
    const connected = await this.connectedWorkers(keys, now);
    const live = connected.count ?? 0;
    const histograms = derived.snapshot();
    return {
      ...base,
      telemetry: 'derived',
      derived: {
        from: "BullMQ's events stream (completed/failed) and finished jobs' times; workers from BullMQ's worker list (CLIENT LIST); busy slots from the active list",
        workersKnown: connected.count !== null,
        workerNames: connected.count === null ? [] : connected.names.slice(0, 100),
        concurrencyEstimated: true,
        eventsMissed: derived.missedEvents,
      },
      workers: [],
      workerTotals: derived.totals(now, live, active!, backlog),
      ...histograms,
    };
  }

  private toRqSnapshot(keys: QueueKeys, now: number, reply: RqSampleReply): QueueSnapshot {
    const queue = keys.queue;
    const state = this.rqDerived.get(queue)!;
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
      workers: workers.slice(0, this.opts.maxWorkers),
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
}
