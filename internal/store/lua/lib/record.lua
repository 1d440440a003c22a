-- Report records and day-stamped buckets (record.go). The prelude before
-- this file names the record fields (F_*), NFIELDS and the codes.
local function fields(rec)
  local t = {}
  for f in string.gmatch(rec .. SEP, '([^\31]*)\31') do t[#t + 1] = f end
  for k = #t + 1, NFIELDS do t[k] = '' end
  return t
end
local function pack(t)
  local n = NFIELDS
  while n > 0 and (t[n] == nil or t[n] == '') do n = n - 1 end
  return table.concat(t, SEP, 1, n)
end
-- tohex: raw bytes (a report id, ids one after the other) in lower-case hex.
local function tohex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  n = math.floor(n)
  if n <= 0 then return '0' end
  local s = ''
  while n > 0 do
    local r = n % 36
    s = string.sub(DIGITS, r + 1, r + 1) .. s
    n = math.floor(n / 36)
  end
  return s
end
local function parsew(w)
  local wm, lo, nc = string.match(w or '::', '^([^:]*):([^:]*):([^:]*)$')
  wm, lo = tonumber(wm or '', 36) or 0, tonumber(lo or '', 36)
  if lo then lo = wm - lo end
  return wm, lo, tonumber(nc or '', 36) or 0
end
-- A small book whose records have not changed since they were accepted
-- has no "w" (lib/accept.lua): recordsw computes it from the records (newest
-- and oldest receipt, records not cancelled).
local function recordsw(b)
  local all = redis.call('HGETALL', b)
  local wm, lo, nc = 0, nil, 0
  for j = 1, #all, 2 do
    if #all[j] == ID_LEN then
      local t = fields(all[j + 1])
      local rcv = tonumber(t[F_RCV], 36)
      wm = math.max(wm, rcv)
      if not lo or rcv < lo then lo = rcv end
      if t[F_REVIEW] ~= RV_CANCELLED then nc = nc + 1 end
    end
  end
  return wm, lo, nc
end
local function getw(b)
  local w = redis.call('HGET', b, 'w')
  if w then return parsew(w) end
  return recordsw(b)
end
local function fmtw(wm, lo, nc)
  local l = ''
  if lo then l = b36(math.max(0, wm - lo)) end
  return b36(wm) .. ':' .. l .. ':' .. b36(nc)
end
local function setw(b, wm, lo, nc) redis.call('HSET', b, 'w', fmtw(wm, lo, nc)) end
local function bday(v) return string.byte(v, 1) * 256 + string.byte(v, 2) end
-- dayput writes field f = v (v starts with its 2-byte day; fields are
-- 16-byte report ids) into a day-stamped bucket, first dropping the
-- entries older than day "before" if the bucket's oldest entry ("lo") is.
-- It renews the bucket's TTL once a day ("ex": the day it last did). With
-- drop, each entry dropped (or replaced by another IBAN's) is passed to
-- it: the report index prunes the entry's book. cur is the bucket's
-- HMGET of lo, ex and f when the caller read it already.
local function dropold(k, before, drop, keep)
  local lo = nil
  local all = redis.call('HGETALL', k)
  for j = 1, #all, 2 do
    if #all[j] == ID_LEN and all[j] ~= keep then
      local d = bday(all[j + 1])
      if d < before then
        redis.call('HDEL', k, all[j])
        if drop then drop(all[j + 1]) end
      elseif not lo or d < lo then lo = d end
    end
  end
  return lo
end
local function dayput(k, f, v, before, ttl, drop, cur)
  cur = cur or redis.call('HMGET', k, 'lo', 'ex', f)
  local lo, today = tonumber(cur[1] or ''), bday(v)
  if drop and cur[3] and string.sub(cur[3], 3) ~= string.sub(v, 3) then drop(cur[3]) end
  if lo and lo < before then lo = dropold(k, before, drop, f) end
  if not lo or today < lo then lo = today end
  if tonumber(cur[2] or '') ~= today then
    redis.call('HSET', k, f, v, 'lo', lo, 'ex', today)
    redis.call('EXPIRE', k, ttl)
  else
    redis.call('HSET', k, f, v, 'lo', lo)
  end
end
-- indexput writes a report's entry into its partition's report index
-- (keys.go): into the bucket that already holds the id, else the lowest
-- level's bucket with fewer than INDEX_FILL entries (besides lo and ex),
-- else the top level's. ks: the id's bucket at each level, lowest first.
local function indexput(ks, f, v, before, ttl, drop)
  local at, cur
  for i = 1, #ks do
    local c = redis.call('HMGET', ks[i], 'lo', 'ex', f)
    if c[3] then at, cur = i, c; break end
    if not at and (i == #ks or redis.call('HLEN', ks[i]) < INDEX_FILL + 2) then at, cur = i, c end
  end
  dayput(ks[at], f, v, before, ttl, drop, cur)
end
