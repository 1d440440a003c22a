-- feedappend adds an event to a bank's feed (stream ev) once per event
-- id (the set ids) and trims the feed and its ids by age (minid) and size
-- (maxlen). It returns the new entry's id (nil if the event was there)
-- and the number of events trimmed for the size bound. With unkept, the
-- caller keeps the event's record elsewhere (a report.received's in the
-- review-due set, append_event.lua): the ids are neither read nor added.
local function feedappend(ev, ids, eid, typ, data, at, now, minid, maxlen, ttl, unkept)
  if not unkept and redis.call('ZSCORE', ids, eid) then return nil, 0 end
  -- 'at' is left out when the entry id's time (this server's clock) is
  -- within a second of it: the reader takes the id's time.
  local t = redis.call('TIME')
  local id
  if math.abs(tonumber(at) - (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))) < 1000 then
    id = redis.call('XADD', ev, 'MINID', minid, '*', 'event_id', eid, 'type', typ, 'data', data)
  else
    id = redis.call('XADD', ev, 'MINID', minid, '*', 'event_id', eid, 'type', typ, 'data', data, 'at', at)
  end
  local trimmed = redis.call('XTRIM', ev, 'MAXLEN', maxlen)
  if not unkept then redis.call('ZADD', ids, now, eid) end
  redis.call('ZREMRANGEBYSCORE', ids, '-inf', '(' .. minid)
  if trimmed > 0 then redis.call('ZREMRANGEBYRANK', ids, 0, -(tonumber(maxlen) + 1)) end
  redis.call('EXPIRE', ids, ttl)
  redis.call('EXPIRE', ev, ttl)
  return id, trimmed
end
