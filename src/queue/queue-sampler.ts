import { isCluster, slotOf, type RedisClient } from './redis-connection.js';
import { parseHistogram } from './histogram-fields.js';
import type { QueueKeys } from './queue-keys.js';
import type { QueueSnapshot, Sample, WorkerSnapshot, WorkerTotals } from './queue-snapshot.js';

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
 *       contributions, workers by start
 * ARGV: job key prefix (`<prefix>:<queue>:`), worker key prefix, now (ms), max workers, stale limit
 */
const SAMPLE_QUEUE = `
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
}
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
];

type SamplingRedis = RedisClient & {
  qscaleSampleQueue(...args: (string | number)[]): Promise<SampleReply>;
};

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
}

/** The Redis read of a sample took longer than the timeout. */
export class SampleTimeoutError extends Error {
  constructor(ms: number) {
    super(`reading the queues from Redis took longer than ${ms} ms`);
    this.name = 'SampleTimeoutError';
  }
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
  private cached?: { at: number; sample: Sample };
  private reading?: Promise<Sample>;

  constructor(
    redis: RedisClient,
    queues: QueueKeys | QueueKeys[],
    options: QueueSamplerOptions = {},
  ) {
    const opts = { ttlMs: 1000, timeoutMs: 1000, maxWorkers: 100, now: Date.now, ...options };
    for (const name of ['ttlMs', 'timeoutMs', 'maxWorkers'] as const) {
      if (!Number.isFinite(opts[name]) || opts[name] < 0) {
        throw new RangeError(`QueueSampler ${name} must be a number ≥ 0, got ${opts[name]}`);
      }
    }
    this.redis = redis as SamplingRedis;
    if (typeof this.redis.qscaleSampleQueue !== 'function') {
      redis.defineCommand('qscaleSampleQueue', { numberOfKeys: 17, lua: SAMPLE_QUEUE });
    }
    this.queues = Array.isArray(queues) ? queues : [queues];
    if (this.queues.length === 0) throw new RangeError('QueueSampler needs at least one queue');
    this.opts = opts;
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
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const k of group) {
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
        k.bull(''),
        k.workerPrefix(),
        now,
        this.opts.maxWorkers,
        STALE_LIMIT,
      );
    }
    const results = (await pipeline.exec()) ?? [];
    return group.map((k, i) => {
      const [error, reply] = results[i] ?? [new Error('no reply')];
      if (error) throw error;
      return this.toSnapshot(k.queue, now, reply as SampleReply);
    });
  }

  private async read(): Promise<Sample> {
    const started = performance.now();
    const now = this.opts.now();
    // Masters are read in parallel: one request per master, whatever the number of queues.
    const byQueue = new Map<string, QueueSnapshot>();
    const groups = await Promise.all(this.groups().map((group) => this.readGroup(group, now)));
    for (const snapshot of groups.flat()) byQueue.set(snapshot.queue, snapshot);
    const sample: Sample = {
      sampledAt: now,
      durationSeconds: (performance.now() - started) / 1000,
      queues: this.queues.map((k) => byQueue.get(k.queue)!),
    };
    this.cached = { at: now, sample };
    return sample;
  }

  private toSnapshot(queue: string, now: number, reply: SampleReply): QueueSnapshot {
    const [counts, enqueued, workerList, completedHist, failedHist, waitHist, fleet] = reply;
    const [wait, paused, prioritized, active, delayed, children, completed, failed, due, oldest] =
      counts.map(Number) as number[];
    const workers: WorkerSnapshot[] = [];
    for (let i = 0; i + 1 < workerList.length; i += 2) {
      const worker = toWorker(workerList[i] as string, workerList[i + 1] as string[]);
      if (worker) workers.push(worker);
    }
    return {
      queue,
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
      backlog: wait! + paused! + prioritized! + due!,
      oldestJobAgeSeconds: oldest! >= 0 ? Math.max(0, (now - oldest!) / 1000) : 0,
      paused: counts[10] === 1,
      enqueuedTotal: Number(enqueued) || 0,
      workers,
      workerTotals: toTotals(fleet),
      processing: { completed: parseHistogram(completedHist), failed: parseHistogram(failedHist) },
      wait: parseHistogram(waitHist),
    };
  }
}
