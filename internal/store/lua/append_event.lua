-- append_event: add an event to a bank's feed once per event id.
-- KEYS: events stream, event ids.
-- Returns {1, cursor, trimmed} when added, {0, "", 0} when it was there.
local a = append_event_args(ARGV, 0)
local id, trimmed = feedappend(KEYS[1], KEYS[2], a.event_id, a.type, a.data, a.created, a.now, a.min_id, a.max_len, a.ttl)
if not id then return {0, '', 0} end
redis.call('PUBLISH', a.channel, a.bank)
return {1, id, trimmed}
