-- post_alert: add an alert to a bank's stream, once per alert id, and its
-- alert.created event to the bank's feed (same hash tag: both or
-- neither; 'a' is alert.created's code, events.go); a.entry are the
-- alert's own field/value pairs.
-- KEYS: alerts stream, alert ids, events stream, event ids.
-- Returns {fresh 1/0, cursor, events trimmed}.
local alerts, aids, events, eids = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local a = post_alert_args(ARGV, 0)
if a.idempotent == '1' then
  local existing = redis.call('HGET', aids, a.alert_id)
  if existing then return {0, existing, 0} end
end
local id = redis.call('XADD', alerts, 'MINID', a.min_id, '*', 'alert_id', a.alert_id, unpack(a.entry))
if a.idempotent == '1' then
  redis.call('HSET', aids, a.alert_id, id)
  redis.call('EXPIRE', aids, a.ttl)
end
local _, trimmed = feedappend(events, eids, a.event_id, 'a', a.event_data, a.now, a.now,
  a.events_min_id, a.events_max, a.events_ttl, false)
redis.call('PUBLISH', a.channel, a.bank)
return {1, id, trimmed}
