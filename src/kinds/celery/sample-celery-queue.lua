-- Reads one Celery queue on kombu's Redis transport, read-only, in one run.
--
-- Runs inside a wrapper that declares `local celeryUnacked = {}` once per run (see celery-sample.ts).
--
-- KEYS are named by ARGV[1], a JSON list of names in KEYS' order:
--   list0 .. list9  the queue's list (priority 0) and the lists of priority steps 1 to 9
--   unacked         kombu's hash of messages workers hold, shared by every queue of the database
--   unackedIndex    kombu's sorted set of those messages' delivery tags, by delivery time
-- ARGV[2]: the queue's name; ARGV[3]: unacked entries read at most.
--
-- The bindings `_kombu.binding.<exchange>` of held messages published to a named exchange under a
-- routing key other than the queue's name are read by name (SISMEMBER): Celery on a Redis Cluster
-- is not supported, so every key is on this node.
--
-- Returns {lengths, tail ids, {unacked total, unacked read}, held}: the length of each list, the
-- task id of the message at each list's tail (the oldest: producers LPUSH, workers BRPOP), and for
-- each held message of this queue {task id, '1' when it has an ETA/countdown else '0'}.
local K = {}
local names = cjson.decode(ARGV[1])
for i = 1, #names do K[names[i]] = KEYS[i] end
local queue = ARGV[2]
local maxUnacked = tonumber(ARGV[3])
local separator = '\6\22'

local function taskId(message)
  if not message then return '' end
  return string.match(message, '"id":%s*"([^"]+)"') or ''
end

local lengths, tails = {}, {}
for step = 0, 9 do
  local key = K['list' .. step]
  local len = redis.call('LLEN', key)
  lengths[#lengths + 1] = len
  tails[#tails + 1] = len > 0 and taskId(redis.call('LINDEX', key, -1)) or ''
end

-- `unacked` is shared by every queue of the database: a batched run reads and parses it once, for
-- its first queue, into `celeryUnacked` (a local the wrapper declares: one per run), its held
-- messages grouped by (exchange, routing key); each queue then looks at the groups only.
if celeryUnacked.total == nil then
  local total = redis.call('HLEN', K.unacked)
  local entries
  if total <= maxUnacked then
    entries = redis.call('HVALS', K.unacked)
  elseif maxUnacked > 0 then
    local tags = redis.call('ZRANGE', K.unackedIndex, 0, maxUnacked - 1)
    entries = #tags > 0 and redis.call('HMGET', K.unacked, unpack(tags)) or {}
  else
    entries = {}
  end
  local groups, order, read = {}, {}, 0
  for i = 1, #entries do
    local entry = entries[i]
    if entry then
      read = read + 1
      local exchange, routingKey = string.match(entry, ',%s*"([^"]*)",%s*"([^"]*)"%s*%]%s*$')
      if routingKey then
        local pair = exchange .. separator .. routingKey
        local group = groups[pair]
        if not group then
          group = {exchange = exchange, routingKey = routingKey, messages = {}}
          groups[pair] = group
          order[#order + 1] = group
        end
        local eta = string.find(entry, '"eta":%s*"') and '1' or '0'
        group.messages[#group.messages + 1] = {taskId(entry), eta}
      end
    end
  end
  celeryUnacked.total, celeryUnacked.read, celeryUnacked.groups = total, read, order
end

local function routedHere(exchange, routingKey)
  if routingKey == queue then return true end
  if exchange == '' then return false end
  return redis.call('SISMEMBER', '_kombu.binding.' .. exchange,
    routingKey .. separator .. separator .. queue) == 1
end

local held = {}
for _, group in ipairs(celeryUnacked.groups) do
  if routedHere(group.exchange, group.routingKey) then
    for _, message in ipairs(group.messages) do held[#held + 1] = message end
  end
end

return {lengths, tails, {celeryUnacked.total, celeryUnacked.read}, held}
