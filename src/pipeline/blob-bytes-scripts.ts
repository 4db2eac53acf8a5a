// Lua scripts that make a file permanent or delete it while keeping the stored-blob byte total
// (QueueKeys.storage(), field `blobBytes`) in step, in the same atomic step as the change itself.

/**
 * Lua helpers of the blob byte total. A record's `size` is added once, when the record is made
 * permanent, and the record keeps what was added (`countedBytes`), so its deletion subtracts exactly
 * that: records written before the total existed were never counted and subtract nothing. The field
 * goes when the total is back at 0, so a queue whose files are all deleted keeps no key for it.
 *
 * `deleteCounted` deletes the record before it subtracts: on a full Redis (`maxmemory`), a script
 * whose first write is a DEL runs whole — Redis refuses only a script's first write, and only one
 * that may grow memory (HINCRBY may) — so deleting, which frees memory, works when Redis is full.
 */
export const BLOB_BYTES_LUA = `
local function countBlob(record, total)
  local size = redis.call('HGET', record, 'size')
  if size and redis.call('HSETNX', record, 'countedBytes', size) == 1 then
    redis.call('HINCRBY', total, 'blobBytes', size)
  end
end
local function deleteCounted(record, total)
  local counted = tonumber(redis.call('HGET', record, 'countedBytes') or '0') or 0
  local existed = redis.call('DEL', record)
  if counted > 0 and redis.call('HINCRBY', total, 'blobBytes', -counted) == 0 then
    redis.call('HDEL', total, 'blobBytes')
  end
  return existed
end
`;

/**
 * Makes pending records permanent, lists them in the file index and counts their blobs.
 * KEYS: files index, blob byte total, then each file's record. ARGV: uploadedAt, then each file's id.
 */
export const CONFIRM_FILES = `${BLOB_BYTES_LUA}
for i = 3, #KEYS do
  redis.call('PERSIST', KEYS[i])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i - 1])
  countBlob(KEYS[i], KEYS[2])
end
return 0`;

/**
 * Deletes a file's record, chunks and vectors, takes it out of the index and subtracts its blob,
 * all at once. With ARGV[2] = '1' a record that says queued or processing is left alone (-1).
 * Returns 1 when the record existed, 0 when it did not.
 * KEYS: record, chunks, vectors, files index, blob byte total. ARGV: file id, only-finished flag.
 */
export const DELETE_FILE = `${BLOB_BYTES_LUA}
local status = redis.call('HGET', KEYS[1], 'status')
if ARGV[2] == '1' and status and status ~= 'completed' and status ~= 'failed' then return -1 end
local existed = deleteCounted(KEYS[1], KEYS[5])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
return existed`;
