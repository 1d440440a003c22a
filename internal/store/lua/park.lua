-- park: take an event of a report the police store refused out of the
-- outbox and keep it with the report's rejected body, in order, for
-- "outbox requeue"; only while the report is rejected (its record says
-- so, or it is gone and its body is in the rejected hash).
-- KEYS: stream, book, rejected hash, parked hash.
-- Returns 1 when parked, 0 when the report is not rejected.
local stream, book, rejected, parked = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local a = park_args(ARGV, 0)
local rec = redis.call('HGET', book, a.id)
if rec then
  if fields(rec)[F_ST] ~= ST_REJECTED then return 0 end
elseif redis.call('HEXISTS', rejected, a.report_id) == 0 then
  return 0
end
local list = {}
local cur = redis.call('HGET', parked, a.report_id)
if cur then list = cjson.decode(cur) end
list[#list + 1] = {k = a.event_key, b = a.body, ev = a.event}
redis.call('HSET', parked, a.report_id, cjson.encode(list))
redis.call('EXPIRE', parked, a.ttl)
redis.call('XACK', stream, a.group, a.entry)
if consumed(stream, a.other_group, a.entry) then redis.call('XDEL', stream, a.entry) end
return 1
