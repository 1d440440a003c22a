-- source_word: a source report as its linked reports need it: its record
-- and spilled fields, the book's holder (j), whether its IBAN carries a
-- marker, its clear, and the time of the reading on this node's clock (seconds,
-- microseconds). Every word about one source is read here, on the node
-- that holds its book, so the times order the words. KEYS: the source's
-- book. A missing field comes back "".
local book, a = KEYS[1], source_word_args(ARGV, 0)
local v = redis.call('HMGET', book, a.id, 'x:' .. a.id, 'j', 'm:at', 'cl')
local t = redis.call('TIME')
return {v[1] or '', v[2] or '', v[3] or '', v[4] or '', t[1], t[2], v[5] or ''}
