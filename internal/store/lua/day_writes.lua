-- day_writes: count an org's writes of one UTC day and refuse the ones
-- beyond the limit (counting them back out). KEYS: the day's counter.
-- Returns 1 when allowed.
local k, a = KEYS[1], day_writes_args(ARGV, 0)
local n = redis.call('INCRBY', k, a.cost)
if n == tonumber(a.cost) then redis.call('EXPIRE', k, 172800) end
if n > tonumber(a.limit) then
  redis.call('DECRBY', k, a.cost)
  return 0
end
return 1
