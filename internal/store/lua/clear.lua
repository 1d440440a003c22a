-- clear: the police clear an IBAN: every report received before a.now
-- stops counting (the cl field; records are not rewritten), the previous
-- clear is kept for an undo (cl0), the marker is lifted (its holder,
-- a.holder, hears marker.cancelled as when the police lift it), every report
-- with linked reports queues its word for them (a cleared source confirms
-- nothing), and a KindCorrect entry queues the corrections.
-- KEYS: book, outbox. Returns {the reports that stopped counting, then
-- each source's id and its linked reports' ids (hex)}.
local book, outbox, a = KEYS[1], KEYS[2], clear_args(ARGV, 0)
local prev = redis.call('HMGET', book, 'cl', 'cld')
local prevAt = -1
if prev[1] then
  prevAt = tonumber(string.match(prev[1], '^[^:]*:(%d+):')) or -1
  redis.call('HSET', book, 'cl0', prev[1])
  if prev[2] then redis.call('HSET', book, 'cl0d', prev[2]) else redis.call('HDEL', book, 'cl0d') end
end
redis.call('HSET', book, 'cl', a.value)
if a.details ~= '' then redis.call('HSET', book, 'cld', a.details) else redis.call('HDEL', book, 'cld') end
if a.holder ~= '' and redis.call('HEXISTS', book, 'm:at') == 1 then
  redis.call('XADD', outbox, '*', 'id', a.msubject, 'kind', 'feed', 'h', a.holder, 'ev', a.mevent, 'body', a.mbody)
end
redis.call('HDEL', book, 'm:ft', 'm:bt', 'm:by', 'm:at', 'm:det')
local out = {0}
local all = redis.call('HGETALL', book)
for j = 1, #all, 2 do
  if #all[j] == ID_LEN then
    local t = fields(all[j + 1])
    local rcv = tonumber(t[F_RCV], 36)
    if t[F_REVIEW] ~= RV_CANCELLED and rcv < tonumber(a.now) and rcv >= prevAt then out[1] = out[1] + 1 end
  end
end
queue_words(book, outbox, a.pseudo, out)
redis.call('XADD', outbox, '*', 'id', a.subject, 'ps', a.pseudo, 'kind', 'correct', 'ib', a.iban, 'cr', a.reason,
  'ca', a.now, 'pr', a.previous)
redis.call('PUBLISH', a.wake, a.partition)
local wm, lo, nc = getw(book)
setw(book, math.max(wm, tonumber(a.now)), lo, nc)
if lo then redis.call('PERSIST', book) else redis.call('EXPIRE', book, a.ttl) end
return out
