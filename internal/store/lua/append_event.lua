-- append_event: add an event to a bank's feed once per event id.
-- KEYS: events stream, event ids, reviews due.
-- A report.received that opens a review (a.due_id, the raw report id)
-- goes into the due set with the event, both or neither, and the due set
-- is its record of having been written: the report stays in it, open
-- (scored by its deadline) or closed (scored minus when it closed, ms),
-- for as long as the event is kept, so the event id set need not hold it.
-- Returns {1, cursor, trimmed} when added, {0, "", 0} when it was there.
local a = append_event_args(ARGV, 0)
local due = a.due_id ~= ''
if due and redis.call('ZSCORE', KEYS[3], a.due_id) then return {0, '', 0} end
local id, trimmed = feedappend(KEYS[1], KEYS[2], a.event_id, a.type, a.data, a.created, a.now, a.min_id, a.max_len, a.ttl, due)
if not id then return {0, '', 0} end
if due then
  redis.call('ZADD', KEYS[3], a.due_by, a.due_id)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], 0, a.due_gone)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], a.closed_gone, '(0')
  redis.call('EXPIRE', KEYS[3], a.due_ttl)
end
redis.call('PUBLISH', a.channel, a.bank)
return {1, id, trimmed}
