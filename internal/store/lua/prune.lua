-- prune: retire what has aged out of one report index bucket: the entries
-- older than the first day kept, and with them their books' records past
-- retention (books left empty are deleted). KEYS: report index bucket.
-- Returns the number of index entries dropped.
local k, a = KEYS[1], prune_args(ARGV, 0)
local before, cutoff = tonumber(a.first_day), tonumber(a.cutoff)
local lo = tonumber(redis.call('HGET', k, 'lo') or '')
if not lo or lo >= before then return 0 end
local n = 0
lo = dropold(k, before, function(e) n = n + 1; prune(a.book_prefix, e, cutoff) end, nil)
if lo then redis.call('HSET', k, 'lo', lo) else redis.call('DEL', k) end
return n
