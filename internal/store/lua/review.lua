-- review: apply a review transition the domain computed, if the record
-- is still the one it was computed from (compare and set on the whole
-- record), with the report's own fields (a.fields: name, value; ""
-- deletes), the change of the not-cancelled count, and the review event
-- for the police store queued on the same outbox partition.
-- KEYS: book, outbox. Returns 1 when applied, 0 when the record changed.
local book, outbox = KEYS[1], KEYS[2]
local a = review_args(ARGV, 0)
if redis.call('HGET', book, a.id) ~= a.expected then return 0 end
redis.call('HSET', book, a.id, a.record)
for k = 1, #a.fields, 2 do
  local f, v = a.fields[k], a.fields[k + 1]
  if v == '' then redis.call('HDEL', book, f) else redis.call('HSET', book, f, v) end
end
local wm, lo, nc = getw(book)
setw(book, tonumber(a.now), lo, nc + tonumber(a.uncounted))
if a.event_body ~= '' then
  redis.call('XADD', outbox, '*', 'id', a.report_id, 'ps', a.pseudonym, 'kind', 'event', 'key', a.event_key,
    'body', a.event_body, 'h', a.holder, 'ev', a.event, 'ib', a.iban)
  redis.call('PUBLISH', a.wake, a.partition)
end
return 1
