/**
 * The Lua scripts through which a worker keeps the per-queue worker totals (see
 * `QueueKeys.workerTotals`). Every change to the totals happens inside one of these scripts, so
 * each is atomic: what a worker adds is recorded in the same step as the addition, and what is
 * subtracted is removed in the same step as the subtraction.
 *
 * Keys, in this order, for both scripts: the live set (id → liveness deadline, epoch ms), the
 * by-start set (id → process start), the contributions hash (id → `<instance>,<concurrency>,<busy>,
 * <utilization × concurrency>`), the totals hash, and this worker's telemetry hash.
 *
 * Invariants:
 * - The gauges of the totals (`concurrency`, `busy`, `busyWorkers`, `utilizedSlots`) are the sum of
 *   the contributions hash; an id is in the contributions hash exactly when it is in the live set
 *   (both are written and removed together, here only).
 * - A contribution is subtracted only by the script that deletes it: two reapers, or a reaper and
 *   the worker's own clean stop, cannot both subtract it.
 * - Cumulative counters (`completed`, `failed`) are only ever increased, by the growth of the
 *   worker's own counters since what its telemetry hash (or, when that is gone, its last
 *   acknowledged report) held: a departed worker's counts stay.
 * - Anything else that removes ids from the live set (a worker of a version before the totals,
 *   whose heartbeat trims expired ids with ZREMRANGEBYSCORE; a hand-made ZREM) leaves an orphaned
 *   contribution and by-start entry; the sweep (a few entries per sweeping heartbeat, cursors in
 *   the totals hash) finds them and forgets them, so the totals heal whatever broke them.
 */

const COMMON = `
local ZERO = {concurrency = 0, busy = 0, utilizedSlots = 0}
local function contribution(id)
  local value = redis.call('HGET', KEYS[3], id)
  if not value then return nil end
  local f = {}
  for part in string.gmatch(value, '[^,]+') do f[#f + 1] = part end
  return {
    value = value,
    instance = f[1],
    concurrency = tonumber(f[2]) or 0,
    busy = tonumber(f[3]) or 0,
    utilizedSlots = tonumber(f[4]) or 0,
  }
end
-- Moves the totals' gauges from what contribution a says to what b says.
local function change(a, b)
  local busyWorkers = (b.busy > 0 and 1 or 0) - (a.busy > 0 and 1 or 0)
  if b.concurrency ~= a.concurrency then
    redis.call('HINCRBY', KEYS[4], 'concurrency', b.concurrency - a.concurrency)
  end
  if b.busy ~= a.busy then redis.call('HINCRBY', KEYS[4], 'busy', b.busy - a.busy) end
  if busyWorkers ~= 0 then redis.call('HINCRBY', KEYS[4], 'busyWorkers', busyWorkers) end
  if b.utilizedSlots ~= a.utilizedSlots then
    redis.call('HINCRBYFLOAT', KEYS[4], 'utilizedSlots', b.utilizedSlots - a.utilizedSlots)
  end
end
-- A worker leaves: what it added is subtracted (once: only while its contribution is there).
local function forget(id)
  local c = contribution(id)
  if c then
    change(c, ZERO)
    redis.call('HDEL', KEYS[3], id)
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
-- No worker left: the gauges are 0 by definition; writing 0 also clears float residue.
local function settle()
  if redis.call('HLEN', KEYS[3]) == 0 then
    redis.call('HSET', KEYS[4], 'concurrency', 0, 'busy', 0, 'busyWorkers', 0, 'utilizedSlots', 0)
  end
end
`;

/**
 * A worker's report: at every heartbeat (`announce` 1: it is live until the deadline) and with
 * every flush of job ends (`announce` 0: it updates what the worker already contributes, and
 * joins nothing).
 *
 * 1. Reaps up to `reapLimit` peers whose liveness deadline has passed (killed, or cut off for
 *    three heartbeats): subtracts their contributions and drops their ids. Their telemetry hashes
 *    expire on their own.
 * 2. With `sweep` 1, scans on through the contributions hash and the by-start set (SCAN with
 *    COUNT 10 from where the last sweep stopped; a small, listpack-encoded one, at most 128 entries
 *    by default, comes whole) and forgets the ids that are not in the live set.
 * 3. A contribution of another instance under this id (a restarted process that reuses the id)
 *    is a departed worker's: subtracted like a reaped one.
 * 4. Gauges: with a contribution in place, the totals move by the difference; without one (first
 *    heartbeat, or reaped while in fact alive), a heartbeat adds the whole contribution: the
 *    worker is counted again, exactly once.
 * 5. Cumulative counters grow by this report's growth over the telemetry hash's values (same
 *    instance), else over the last acknowledged report (ARGV), never by a negative amount: a
 *    reply lost on the way back is not counted twice while the hash lives. Nothing to do when the
 *    counters are those of the last acknowledged report.
 * 6. The telemetry hash (what the sampler lists per worker) is rewritten and expires after the
 *    liveness TTL.
 *
 * A steady heartbeat (nothing reaped, the same contribution, no new job) runs 5 commands.
 *
 * ARGV: id, instance, now (ms), announce (1/0), liveness deadline (ms), telemetry TTL (ms),
 * reapLimit, startedAt, concurrency, busy, utilization, completed, failed, busySeconds,
 * cpuSeconds, completed and failed as last acknowledged, oldestJobStartedAt, heartbeatAt,
 * sweep (1/0). Returns the number of peers forgotten.
 */
export const REPORT_WORKER = `${COMMON}
-- Redis 5 and 6: HSCAN/ZSCAN before writes need effects replication (the default from Redis 7).
if redis.replicate_commands then redis.replicate_commands() end
local id, instance = ARGV[1], ARGV[2]
local announce = ARGV[4] == '1'
local forgotten = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[7]))
for _, peer in ipairs(expired) do
  if peer ~= id then
    forget(peer)
    forgotten = forgotten + 1
  end
end
if ARGV[20] == '1' then
  local function sweep(cursorField, scan, key)
    local reply = redis.call(scan, key, redis.call('HGET', KEYS[4], cursorField) or '0', 'COUNT', 10)
    for i = 1, #reply[2], 2 do
      local peer = reply[2][i]
      if peer ~= id and not redis.call('ZSCORE', KEYS[1], peer) then
        forget(peer)
        forgotten = forgotten + 1
      end
    end
    redis.call('HSET', KEYS[4], cursorField, reply[1])
  end
  sweep('sweep:contributions', 'HSCAN', KEYS[3])
  sweep('sweep:started', 'ZSCAN', KEYS[2])
end
local old = contribution(id)
if old and old.instance ~= instance then
  forget(id)
  forgotten = forgotten + 1
  old = nil
end
local concurrency, busy = tonumber(ARGV[9]), tonumber(ARGV[10])
local new = {concurrency = concurrency, busy = busy, utilizedSlots = tonumber(ARGV[11]) * concurrency}
local value = instance .. ',' .. concurrency .. ',' .. busy .. ',' .. new.utilizedSlots
if old then
  if old.value ~= value then
    change(old, new)
    redis.call('HSET', KEYS[3], id, value)
  end
elseif announce then
  -- Joining (or back after being reaped). If nobody else is left, start the gauges from 0.
  settle()
  change(ZERO, new)
  redis.call('HSET', KEYS[3], id, value)
  redis.call('ZADD', KEYS[2], ARGV[8], id)
end
if forgotten > 0 then settle() end
if announce then redis.call('ZADD', KEYS[1], ARGV[5], id) end
if ARGV[12] ~= ARGV[16] or ARGV[13] ~= ARGV[17] then
  local held = redis.call('HMGET', KEYS[5], 'instance', 'completed', 'failed')
  for i, field in ipairs({'completed', 'failed'}) do
    local base = tonumber(ARGV[15 + i]) or 0
    if held[1] == instance then base = tonumber(held[i + 1]) or base end
    local growth = tonumber(ARGV[11 + i]) - base
    if growth > 0 then redis.call('HINCRBY', KEYS[4], field, growth) end
  end
end
redis.call('HSET', KEYS[5],
  'instance', instance, 'concurrency', ARGV[9], 'busy', ARGV[10], 'utilization', ARGV[11],
  'completed', ARGV[12], 'failed', ARGV[13], 'busySeconds', ARGV[14], 'cpuSeconds', ARGV[15],
  'startedAt', ARGV[8], 'oldestJobStartedAt', ARGV[18], 'heartbeatAt', ARGV[19])
redis.call('PEXPIRE', KEYS[5], ARGV[6])
-- Tells samplers that the workers' records changed (they re-read them only then).
redis.call('HINCRBY', KEYS[4], 'rev', 1)
return forgotten
`;

/**
 * A clean stop: the worker subtracts its own contribution and drops its id and telemetry hash —
 * unless the id is held by another instance (a newer process reusing it), which it leaves alone.
 * Idempotent. ARGV: id, instance.
 */
export const LEAVE_WORKER = `${COMMON}
local c = contribution(ARGV[1])
if not c or c.instance == ARGV[2] then
  forget(ARGV[1])
  redis.call('DEL', KEYS[5])
end
settle()
redis.call('HINCRBY', KEYS[4], 'rev', 1)
return 1
`;
