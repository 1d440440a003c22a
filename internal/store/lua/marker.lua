-- marker: set or lift an IBAN's marker (the m:* fields of its book;
-- a.fields: name, value; none lifts it) if it is still the one the domain
-- decided on (compare and set on its registration time), and move the
-- book's watermark. With a holder, the same step queues the feed entry
-- from which the holders' relay tells that bank. Every report about the
-- IBAN that has linked reports queues its word for them (a KindUpstream
-- entry: a marker confirms them, its lifting takes that back).
-- KEYS: book, outbox. Returns {1, then each such report's id and its
-- linked reports' ids (hex)} when applied, 0 when the marker changed.
local book, outbox = KEYS[1], KEYS[2]
local a = marker_args(ARGV, 0)
local at = redis.call('HGET', book, 'm:at') or ''
if at ~= a.expected then return 0 end
if a.holder ~= '' then
  redis.call('XADD', outbox, '*', 'id', a.subject, 'kind', 'feed', 'h', a.holder, 'ev', a.event, 'body', a.body)
  redis.call('PUBLISH', a.wake, a.partition)
end
redis.call('HDEL', book, 'm:ft', 'm:bt', 'm:by', 'm:at', 'm:det')
for k = 1, #a.fields, 2 do
  if a.fields[k + 1] ~= '' then redis.call('HSET', book, a.fields[k], a.fields[k + 1]) end
end
local words = {1}
if queue_words(book, outbox, a.pseudo, words) then redis.call('PUBLISH', a.wake, a.partition) end
local wm, lo, nc = getw(book)
setw(book, tonumber(a.now), lo, nc)
-- A marker keeps its book for the retention after its last write; once
-- lifted, a book with records is retired by the report index (prune).
if #a.fields == 0 and lo then redis.call('PERSIST', book) else redis.call('EXPIRE', book, a.ttl) end
return words
