-- Purges up to ARGV[1] messages from a Celery queue's lists, oldest first (the tails: producers
-- LPUSH, workers BRPOP), as kombu's purge does for a whole queue. KEYS: the lists, in the order
-- given (named by the caller: the priority-0 list or the priority lists). Returns how many.
local limit = tonumber(ARGV[1])
local removed = 0
for i = 1, #KEYS do
  if removed >= limit then break end
  local len = redis.call('LLEN', KEYS[i])
  local take = math.min(len, limit - removed)
  if take == len then
    redis.call('DEL', KEYS[i])
  elseif take > 0 then
    redis.call('LTRIM', KEYS[i], 0, -(take + 1))
  end
  removed = removed + take
end
return removed
