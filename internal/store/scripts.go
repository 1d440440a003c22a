package store

import "github.com/redis/go-redis/v9"

// recordLua are the Lua helpers for a report record (record.go): split
// into fields, join without trailing empty fields, base 36, the book's
// "w" field, and the day-stamped buckets.
var recordLua = luaRecord + `
local SEP = '\31'
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
-- has no "w" (acceptLua): recordsw computes it from the records (newest
-- and oldest receipt, records not cancelled).
local function recordsw(b)
  local all = redis.call('HGETALL', b)
  local wm, lo, nc = 0, nil, 0
  for j = 1, #all, 2 do
    if #all[j] == 16 then
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
    if #all[j] == 16 and all[j] ~= keep then
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
`

// claimScript is the first step of an idempotent alert (an alert with an
// Idempotency-Key), on the idempotency record's own slot: remember (org,
// key) with the request's fingerprint and a value (the alert's bank), or
// say that the key was used before with the same ("seen") or with another
// request ("conflict").
//
// KEYS: idempotency record; ARGV: fingerprint, value, ttl s
var claimScript = redis.NewScript(`
local h = redis.call('HGET', KEYS[1], 'h')
if h then
  if h ~= ARGV[1] then return 'conflict' end
  return 'seen'
end
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'v', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 'new'
`)

// claimReportScript is the first step of intake, on the idempotency
// bucket's own slot: remember the report id with the request's
// fingerprint and the IBAN's partition, or say that it was claimed before
// with the same ("seen") or another request ("conflict"). An entry older
// than the idempotency TTL counts as absent.
//
// KEYS: idempotency bucket
// ARGV: raw report id, value (Store.claimValue), the first day still
// remembered, bucket ttl s
var claimReportScript = redis.NewScript(recordLua + claimLua + `
return claim(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4])
`)

const claimLua = `
local function claim(k, id, v, first, ttl)
  local cur = redis.call('HMGET', k, 'lo', 'ex', id)
  local was = cur[3]
  if was and bday(was) >= first then
    if string.sub(was, 3, 10) ~= string.sub(v, 3, 10) then return 'conflict' end
    return 'seen'
  end
  dayput(k, id, v, first, ttl, nil, cur)
  return 'new'
end
`

// trimLua drops the records past retention from a book (with their own
// fields) and returns the oldest remaining record's time and the number
// of remaining records not cancelled. prune does it for the book a report
// index entry names (the entry's day, then the book's pseudonym): books
// have no TTL (unless they hold a marker), so the report index, whose
// entries age out by day, is what retires a book no one writes again. A
// book left with no record and no marker is deleted.
const trimLua = `
local function trim(b, cutoff, nc)
  local all = redis.call('HGETALL', b)
  local lo = nil
  for j = 1, #all, 2 do
    local f = all[j]
    if #f == 16 then
      local t = fields(all[j + 1])
      local rcv = tonumber(t[F_RCV], 36)
      if rcv < cutoff then
        redis.call('HDEL', b, f, 'd:' .. f, 'c:' .. f, 'e:' .. f, 'p:' .. f, 'x:' .. f)
        if t[F_REVIEW] ~= RV_CANCELLED then nc = nc - 1 end
      elseif not lo or rcv < lo then lo = rcv end
    end
  end
  return lo, nc
end
local function prune(prefix, e, cutoff)
  local b = prefix .. string.sub(e, 3)
  local wm, lo, nc = getw(b)
  if lo and lo >= cutoff then return end
  if lo then lo, nc = trim(b, cutoff, nc) end
  if lo then
    setw(b, wm, lo, nc)
  elseif redis.call('HEXISTS', b, 'm:at') == 0 then
    redis.call('DEL', b)
  else
    setw(b, wm, nil, nc)
  end
end
`

// pruneScript retires what has aged out of one report index bucket: the
// entries older than the first day kept, and with them their books'
// records past retention (books left empty are deleted). Intake does the
// same when it writes into a bucket; "mulegate serve" runs this over
// every bucket periodically (Store.Prune), so a book no one writes again
// is retired too.
//
// KEYS: report index bucket; ARGV: first day kept, cutoff ms, book key
// prefix (the partition's "mg:{pK}:b:")
// Returns the number of index entries dropped.
var pruneScript = redis.NewScript(recordLua + trimLua + `
local k, before, cutoff = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local lo = tonumber(redis.call('HGET', k, 'lo') or '')
if not lo or lo >= before then return 0 end
local n = 0
lo = dropold(k, before, function(e) n = n + 1; prune(ARGV[3], e, cutoff) end, nil)
if lo then redis.call('HSET', k, 'lo', lo) else redis.call('DEL', k) end
return n
`)

// acceptScript is the second step of intake and the one that counts: on
// the IBAN's slot, in one atomic step, it adds the report's record to the
// IBAN's book (first dropping records past retention), indexes it in the
// partition's report index, and appends the outbox entry. It refuses a
// report id it has already recorded, so repeating it after a crash (or a
// concurrent replay) never counts twice. The book holds no plaintext IBAN:
// only the outbox entry carries it, until it is forwarded, and the book
// an AES-GCM encryption of it for the holder.
//
// KEYS: book, report index bucket, outbox
// ARGV: raw id, record head (fields before n), record middle (between n
// and the holder), now ms, cutoff ms, ttl s, sealed iban, police body,
// wake channel, partition, holder, respond_by ms, index value, first
// index day kept, pseudonym (hex), report id (hex), the record's holder
// field, record tail (after the holder), the request's traceparent ("")
// Returns {1, n} when recorded, {0, n at the time} for a replay.
var acceptScript = redis.NewScript(recordLua + trimLua + acceptLua + `
return accept(KEYS, ARGV)
`)

const acceptLua = `
local function accept(KEYS, ARGV)
local b = KEYS[1]
local cur = redis.call('HMGET', b, ARGV[1], 'w', 'm:at', 'j')
if cur[1] then return {0, tonumber(fields(cur[1])[F_N], 36)} end
local wm, lo, nc = 0, nil, 0
if cur[2] then
  wm, lo, nc = parsew(cur[2])
elseif cur[4] then -- records without a "w" (recordsw); a book with none has no j yet
  wm, lo, nc = recordsw(b)
end
local now, cutoff = tonumber(ARGV[4]), tonumber(ARGV[5])
if lo and lo < cutoff then lo, nc = trim(b, cutoff, nc) end
nc = nc + 1
if not lo or now < lo then lo = now end
-- The holder's name is kept once, before the sealed IBAN in the book's
-- j field (no table is built: the record's parts are joined around n
-- and the holder).
local jh, js = nil, nil
if cur[4] then jh, js = string.match(cur[4], '^([^\31]*)\31(.*)$') end
if js == '' then js = nil end
local holder, newh, bh = ARGV[17], nil, nil
if jh and jh ~= '' then bh = jh end
if holder ~= '' then
  if not bh then newh = holder; bh = holder end
  if bh == holder then holder = '=' end
end
local rec = ARGV[2] .. SEP .. b36(nc) .. SEP .. ARGV[3] .. SEP .. holder
if ARGV[18] ~= '' then rec = rec .. SEP .. ARGV[18] end
local set = {ARGV[1], rec}
-- A book of up to three records, none changed since accepted, has no
-- "w" (recordsw reads them; 17 bytes a book, and the difference between
-- Redis' 128- and 160-byte allocation for one record, 192 and 224 for two).
if cur[2] or nc > 3 then set[#set + 1] = 'w'; set[#set + 1] = fmtw(now, lo, nc) end
if newh or not js then
  set[#set + 1] = 'j'; set[#set + 1] = (newh or jh or '') .. SEP .. (js or ARGV[7])
end
redis.call('HSET', b, unpack(set))
-- No TTL: the report index retires the book (prune). A marker keeps
-- the book for the retention after its last write (markerScript).
if cur[3] then redis.call('EXPIRE', b, ARGV[6]) else redis.call('PERSIST', b) end
local prefix = string.sub(b, 1, #b - 16)
dayput(KEYS[2], ARGV[1], ARGV[13], tonumber(ARGV[14]), ARGV[6], function(e) prune(prefix, e, cutoff) end)
redis.call('XADD', KEYS[3], '*', 'id', ARGV[16], 'ps', ARGV[15], 'body', ARGV[8], 'h', ARGV[11], 'rb', ARGV[12], 'tp', ARGV[19])
redis.call('PUBLISH', ARGV[9], ARGV[10])
return {1, nc}
end
`

// reviewScript applies a review transition that the domain computed, if
// the record is still the one the transition was computed from (compare
// and set on the whole record: a concurrent action, or the forwarder,
// makes the caller read again). A cancellation takes the report off the
// "not cancelled" count. It also queues the review event for the police
// store on the same outbox partition, after the report's own entry.
//
// KEYS: book, outbox
// ARGV: raw id, expected record, new record, change of the not-cancelled
// count, now ms, event key, event body ("" for none), wake channel,
// partition, holder, event name, iban, report id (hex), pseudonym (hex),
// then field/value pairs of the report's own fields ("" deletes)
// Returns 1 when applied, 0 when the record changed meanwhile.
var reviewScript = redis.NewScript(recordLua + `
local b = KEYS[1]
if redis.call('HGET', b, ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', b, ARGV[1], ARGV[3])
for k = 15, #ARGV, 2 do
  if ARGV[k + 1] == '' then redis.call('HDEL', b, ARGV[k]) else redis.call('HSET', b, ARGV[k], ARGV[k + 1]) end
end
local wm, lo, nc = getw(b)
setw(b, tonumber(ARGV[5]), lo, nc + tonumber(ARGV[4]))
if ARGV[7] ~= '' then
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[13], 'ps', ARGV[14], 'kind', 'event', 'key', ARGV[6], 'body', ARGV[7],
    'h', ARGV[10], 'ev', ARGV[11], 'ib', ARGV[12])
  redis.call('PUBLISH', ARGV[8], ARGV[9])
end
return 1
`)

var allScripts = []*redis.Script{appendEventScript, doneScript, claimScript, claimReportScript, acceptScript, acceptManyScript, reviewScript, markerScript, finishScript, holdScript, dropConsumerScript, requeueScript, postAlertScript, thresholdScript, pruneScript, earlierPendingScript, parkScript, dayWritesScript, streamsScript}
