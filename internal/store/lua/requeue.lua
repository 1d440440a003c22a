-- requeue: put a rejected report back in its outbox partition, followed
-- by the events parked with it, in order, for the police store only
-- ("ro": the holder's feed had them the first time).
-- KEYS: stream, book, rejected hash, parked hash.
-- Returns 1 if requeued, 0 if the report is not rejected.
local stream, book, rejected, parked = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local a = requeue_args(ARGV, 0)
local body = redis.call('HGET', rejected, a.report_id)
if not body then return 0 end
redis.call('XADD', stream, '*', 'id', a.report_id, 'ps', a.pseudonym, 'body', body, 'ro', '1')
local list = redis.call('HGET', parked, a.report_id)
if list then
  for _, e in ipairs(cjson.decode(list)) do
    redis.call('XADD', stream, '*', 'id', a.report_id, 'ps', a.pseudonym, 'kind', 'event', 'key', e.k, 'body', e.b, 'ev', e.ev, 'ro', '1')
  end
  redis.call('HDEL', parked, a.report_id)
end
redis.call('HDEL', rejected, a.report_id)
local rec = redis.call('HGET', book, a.id)
if rec then
  local t = fields(rec)
  t[F_ST] = ST_QUEUED
  redis.call('HSET', book, a.id, pack(t))
  redis.call('HDEL', book, 'e:' .. a.id)
end
redis.call('PUBLISH', a.wake, a.partition)
return 1
