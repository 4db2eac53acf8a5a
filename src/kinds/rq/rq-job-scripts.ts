// The console's changes to Python RQ jobs, each one Lua script so that it is atomic.

/**
 * Moves a job from a registry (failed or scheduled) to the end of its queue, as RQ's
 * `FailedJobRegistry.requeue` and its scheduler do: status `queued`, a new `enqueued_at`, the last
 * run's times and error cleared. Atomic: answers 0 when the job is no longer in that registry
 * (a worker or another operator moved it), -1 when its hash is gone.
 */
export const REQUEUE = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return -1
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'status', 'queued', 'enqueued_at', ARGV[2], 'exc_info', '')
redis.call('HDEL', KEYS[2], 'ended_at', 'started_at', 'worker_name', 'last_heartbeat')
redis.call('SADD', KEYS[4], KEYS[3])
redis.call('RPUSH', KEYS[3], ARGV[1])
return 1
`;

/**
 * Deletes a job of this queue as RQ's `job.delete()` does: out of the queue and every registry,
 * its hash, results and dependents gone. Refuses (-2) a started job (a worker holds it) and
 * answers 0 for a job that is not this queue's.
 */
export const REMOVE = `
local status = redis.call('HGET', KEYS[1], 'status')
if status == false or redis.call('HGET', KEYS[1], 'origin') ~= ARGV[2] then return 0 end
if status == 'started' then return -2 end
redis.call('LREM', KEYS[2], 0, ARGV[1])
for i = 3, 7 do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[8], KEYS[9])
return 1
`;
