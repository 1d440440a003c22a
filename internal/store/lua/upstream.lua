-- upstream: a linked report hears whether its source confirms it (a.up:
-- "1" or ""), as of a.at (ms): the latest word wins (u:<id> keeps its
-- time), and the book's watermark moves. KEYS: the linked report's book.
-- Returns 1 when applied, 0 for an older word or a report that is gone.
local book, a = KEYS[1], upstream_args(ARGV, 0)
local seen = tonumber(redis.call('HGET', book, 'u:' .. a.id) or '')
if seen and seen >= tonumber(a.at) then return 0 end
local rec = redis.call('HGET', book, a.id)
if not rec then return 0 end
local t = fields(rec)
t[F_UPSTREAM] = a.up
redis.call('HSET', book, a.id, pack(t), 'u:' .. a.id, a.at)
local wm, lo, nc = getw(book)
setw(book, math.max(wm, tonumber(a.at)), lo, nc)
return 1
