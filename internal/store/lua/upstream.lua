-- upstream: a linked report hears whether its source confirms it (a.up:
-- "1" or ""), as of a reading of the source (a.version, µs on the source's
-- node): the latest reading wins (u:<id> keeps its version), and the
-- book's watermark moves. KEYS: the linked report's book.
-- Returns 1 when applied, 0 for an older word or a report that is gone.
local book, a = KEYS[1], upstream_args(ARGV, 0)
local seen = tonumber(redis.call('HGET', book, 'u:' .. a.id) or '')
if seen and seen >= tonumber(a.version) then return 0 end
local rec = redis.call('HGET', book, a.id)
if not rec then return 0 end
local t = fields(rec)
t[F_UPSTREAM] = a.up
redis.call('HSET', book, a.id, pack(t), 'u:' .. a.id, a.version)
local wm, lo, nc = getw(book)
setw(book, math.max(wm, math.floor(tonumber(a.version) / 1000)), lo, nc)
return 1
