import { BLOB_BYTES_LUA, CONFIRM_FILES, DELETE_FILE } from './blob-bytes-scripts.js';
import type { RedisClient } from '../redis/redis-connection.js';

// The Lua scripts of FileRecords, defined once per connection as its commands.

/** HSET only when the hash still exists: a deleted file must not come back half-written. */
const HSET_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
  return 1
end
return 0`;

/**
 * Publishes a file's chunks and vectors, written beforehand under temporary keys, and marks the
 * record completed — all at once, if the record still exists; otherwise removes what the worker
 * wrote, so a file deleted while it was processed leaves nothing behind. Readers see the old
 * result or the new one, never a half-written list; temporary keys left by a crash expire.
 * KEYS: record, chunks, vectors, temporary chunks, temporary vectors. ARGV: field/value pairs.
 */
const COMPLETE_OR_DISCARD = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 2, 3 do
    if redis.call('EXISTS', KEYS[i + 2]) == 1 then
      redis.call('RENAME', KEYS[i + 2], KEYS[i])
      redis.call('PERSIST', KEYS[i])
    else
      redis.call('DEL', KEYS[i])
    end
  end
  redis.call('HSET', KEYS[1], unpack(ARGV))
  return 1
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 0`;

/**
 * Marks a record failed only while it still says queued or processing: a record that a worker has
 * meanwhile completed (or that was deleted) is left as it is. KEYS: record. ARGV: error, finishedAt.
 */
const FAIL_IF_UNFINISHED = `
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'processing' then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[1], 'finishedAt', ARGV[2])
  return 1
end
return 0`;

/**
 * Decides, once, what became of an upload whose enqueue had no clear answer (a Redis that froze or
 * failed over while the jobs were being added). It runs on the connection that sent the enqueue,
 * after it, so it sees the enqueue's effect if there was one. BullMQ adds a request's jobs in one
 * MULTI: they all exist or none does. A job that exists (or that a worker has already started:
 * the record counts attempts) means the upload happened: its records are completed (recreated if
 * they expired), made permanent and indexed, and the 202 answer is stored for Idempotency-Key
 * replays. Otherwise its records and idempotency claim are removed. The decision is kept under
 * the marker key, so a later run of the same settlement (a retry sent while Redis was away) repeats
 * the answer and changes nothing.
 *
 * A kept upload's blobs are added to the blob byte total (once: see BLOB_BYTES_LUA); a dropped one's
 * records leave the index, and whatever of them was counted is subtracted.
 *
 * KEYS: marker, files index, idempotency key (the marker when none), blob byte total, then per
 *       file: record, job.
 * ARGV: uploadedAt, idempotency token ('' when none), response JSON, idempotency TTL (s),
 *       marker TTL (s), then per file: id, JSON array of the record's field/value pairs.
 */
const SETTLE_UPLOAD = `${BLOB_BYTES_LUA}
local decided = redis.call('GET', KEYS[1])
if decided then return decided end
local files = (#KEYS - 4) / 2
local happened = false
for i = 0, files - 1 do
  if redis.call('EXISTS', KEYS[6 + 2 * i]) == 1 then happened = true end
  if tonumber(redis.call('HGET', KEYS[5 + 2 * i], 'attempts') or '0') > 0 then happened = true end
end
local outcome = 'dropped'
if happened then
  outcome = 'kept'
  for i = 0, files - 1 do
    local record = KEYS[5 + 2 * i]
    if redis.call('EXISTS', record) == 0 then
      redis.call('HSET', record, unpack(cjson.decode(ARGV[7 + 2 * i])))
    end
    redis.call('PERSIST', record)
    redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[6 + 2 * i])
    countBlob(record, KEYS[4])
  end
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
  end
else
  for i = 0, files - 1 do
    deleteCounted(KEYS[5 + 2 * i], KEYS[4])
    redis.call('ZREM', KEYS[2], ARGV[6 + 2 * i])
  end
  if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
end
redis.call('SET', KEYS[1], outcome, 'EX', ARGV[5])
return outcome`;

/**
 * A file's chunk count and one page of its chunks, read at once. A script, not a MULTI: Redis 7
 * refuses every command queued in a MULTI while it is over `maxmemory`, reads included, and a
 * script that writes nothing runs. KEYS: chunks. ARGV: start, stop (as LRANGE).
 */
const READ_CHUNKS = `return {redis.call('LLEN', KEYS[1]), redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])}`;

/** A connection with the scripts of {@link withScripts} defined. */
export type RedisWithScripts = RedisClient & {
  qscaleHsetIfExists(key: string, ...args: string[]): Promise<number>;
  qscaleCompleteOrDiscard(
    record: string,
    chunks: string,
    vectors: string,
    temporaryChunks: string,
    temporaryVectors: string,
    ...args: string[]
  ): Promise<number>;
  qscaleSettleUpload(...args: (string | number)[]): Promise<'kept' | 'dropped'>;
  qscaleFailIfUnfinished(record: string, error: string, finishedAt: number): Promise<number>;
  qscaleConfirmFiles(...args: (string | number)[]): Promise<number>;
  qscaleDeleteFile(...args: string[]): Promise<number>;
  qscaleReadChunks(chunks: string, start: number, stop: number): Promise<[number, string[]]>;
};

/** Defines the file record scripts on a connection (once) as its `qscale…` commands. */
export function withScripts(redis: RedisClient): RedisWithScripts {
  const scripted = redis as RedisWithScripts;
  if (typeof scripted.qscaleHsetIfExists !== 'function') {
    redis.defineCommand('qscaleHsetIfExists', { numberOfKeys: 1, lua: HSET_IF_EXISTS });
    redis.defineCommand('qscaleCompleteOrDiscard', { numberOfKeys: 5, lua: COMPLETE_OR_DISCARD });
    redis.defineCommand('qscaleSettleUpload', { lua: SETTLE_UPLOAD });
    redis.defineCommand('qscaleFailIfUnfinished', { numberOfKeys: 1, lua: FAIL_IF_UNFINISHED });
    redis.defineCommand('qscaleConfirmFiles', { lua: CONFIRM_FILES });
    redis.defineCommand('qscaleDeleteFile', { numberOfKeys: 5, lua: DELETE_FILE });
    redis.defineCommand('qscaleReadChunks', { numberOfKeys: 1, lua: READ_CHUNKS });
  }
  return scripted;
}
