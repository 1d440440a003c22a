-- unclear: the police withdraw a clear made in error, if it is still the
-- one they read (a.expected): the clear before it comes back (cl0, or
-- none), every report with linked reports queues its word again, and a
-- KindCorrect entry (reason clear_withdrawn, the withdrawn clear's time)
-- tells the same orgs. KEYS: book, outbox. Returns {1, then each source's
-- id and its linked reports' ids (hex)}, or 0 when the clear changed.
local book, outbox, a = KEYS[1], KEYS[2], unclear_args(ARGV, 0)
if (redis.call('HGET', book, 'cl') or '') ~= a.expected then return 0 end
local prev = redis.call('HMGET', book, 'cl0', 'cl0d')
redis.call('HDEL', book, 'cl', 'cld', 'cl0', 'cl0d')
if prev[1] then redis.call('HSET', book, 'cl', prev[1]) end
if prev[2] then redis.call('HSET', book, 'cld', prev[2]) end
local out = {1}
queue_words(book, outbox, a.pseudo, out)
redis.call('XADD', outbox, '*', 'id', a.subject, 'ps', a.pseudo, 'kind', 'correct', 'ib', a.iban, 'cr', 'clear_withdrawn',
  'ca', a.at, 'pr', '')
redis.call('PUBLISH', a.wake, a.partition)
local wm, lo, nc = getw(book)
setw(book, math.max(wm, tonumber(a.now)), lo, nc)
return out
