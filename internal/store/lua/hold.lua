-- hold: renew a consumer's claim on an entry it is still working on, and
-- with an error also record a failed attempt on the report's record. It
-- acts only while the consumer still owns the entry: a worker that lost
-- it to another must not take it back nor count attempts it did not own.
-- KEYS: stream, book. Returns 1 while the consumer owns the entry.
local stream, book = KEYS[1], KEYS[2]
local a = hold_args(ARGV, 0)
local p = redis.call('XPENDING', stream, a.group, a.entry, a.entry, 1)
if #p == 0 or p[1][2] ~= a.consumer then return 0 end
if a.error ~= '' then
  local rec = redis.call('HGET', book, a.id)
  if rec then
    local t = fields(rec)
    t[F_AT] = tostring((tonumber(t[F_AT]) or 0) + 1)
    redis.call('HSET', book, a.id, pack(t), 'e:' .. a.id, a.error)
  end
end
redis.call('XCLAIM', stream, a.group, a.consumer, 0, a.entry, 'JUSTID')
return 1
