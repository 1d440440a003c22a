-- streams: hold one of an org's stream slots, a sorted set of slot ids by
-- lease end, so a gateway that died without releasing its slots loses
-- them when their leases end. KEYS: the org's slots.
-- Returns 1 when the slot is held (taken or renewed), 0 when the org
-- holds limit slots already.
local k, a = KEYS[1], streams_args(ARGV, 0)
redis.call('ZREMRANGEBYSCORE', k, '-inf', a.now)
if not redis.call('ZSCORE', k, a.slot) and redis.call('ZCARD', k) >= tonumber(a.limit) then return 0 end
redis.call('ZADD', k, a.lease_end, a.slot)
redis.call('PEXPIREAT', k, redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')[2])
return 1
