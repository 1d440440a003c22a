-- drop_consumer: delete a consumer from the group only when its pending
-- list is empty (XGROUP DELCONSUMER discards pending entries, which are
-- then never delivered again), checking and deleting in one step.
-- KEYS: stream. Returns 1 if deleted, 0 if the consumer holds entries or
-- the stream or group does not exist.
local stream, a = KEYS[1], drop_consumer_args(ARGV, 0)
local p = redis.pcall('XPENDING', stream, a.group, '-', '+', 1, a.consumer)
if p.err or #p > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', stream, a.group, a.consumer)
return 1
