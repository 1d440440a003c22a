package store

import "github.com/redis/go-redis/v9"

// trimLua drops reports older than the retention cutoff from an IBAN's
// time index and takes them off the category, source, reporter and review
// counts, and drops cancelled reports past retention from the cancelled
// index. Each index member carries its own category, source and org, and
// the review bucket of each counted report is in the v hash, so trimming
// never depends on the report's own hash still existing. It takes at most
// 1000 per call to keep a script short; whatever it leaves is still
// excluded from every count (see lookupScript and acceptScript), so the
// bound can never make a count wrong.
//
// Arguments: i, o, z, v, x keys and the cutoff in ms.
const trimLua = `
local function trim(i, o, z, v, x, cutoff)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. cutoff, 'LIMIT', 0, 1000)
  for _, m in ipairs(old) do
    local id, cat, src, org = string.match(m, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    if cat then
      redis.call('HINCRBY', i, 'c:' .. cat, -1)
      redis.call('HINCRBY', i, 's:' .. src, -1)
      if redis.call('HINCRBY', o, org, -1) <= 0 then redis.call('HDEL', o, org) end
      local b = redis.call('HGET', v, id)
      if b then
        redis.call('HINCRBY', i, 'v:' .. b, -1)
        redis.call('HDEL', v, id)
      end
    end
    redis.call('ZREM', z, m)
  end
  redis.call('ZREMRANGEBYSCORE', x, '-inf', '(' .. cutoff)
end
`

// claimScript is the first step of an idempotent write (a report, or an
// alert with an Idempotency-Key), on the idempotency record's own slot:
// remember (org, key) with the request's fingerprint and a value (the
// report's partition tag, the alert's bank), or say that the key was used
// before with the same ("seen") or with another request ("conflict").
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

// acceptScript is the second step of intake and the one that counts: on
// the IBAN's slot, in one atomic step, it records the report with its
// holder and review, updates the counters, the review counts and the time
// index, and appends the outbox entry. It refuses a report id it has
// already counted, so repeating it after a crash (or a concurrent replay)
// never counts twice. The report hash holds no plaintext IBAN: only the
// outbox entry carries it, until it is forwarded, and the report hash an
// AES-GCM encryption of it for its holder.
//
// KEYS: i, o, z, v, x, r, outbox
// ARGV: id, now_ms, member, org, cutoff_ms, ttl_s, category, source, body,
// wake channel, partition, holder, respond_by_ms, review state, pseudonym,
// encrypted iban
var acceptScript = redis.NewScript(trimLua + `
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {0, tonumber(redis.call('HGET', KEYS[6], 'n'))}
end
trim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
local n = redis.call('ZCOUNT', KEYS[3], ARGV[5], '+inf')
redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[7], 1)
redis.call('HINCRBY', KEYS[1], 's:' .. ARGV[8], 1)
redis.call('HSET', KEYS[1], 'wm', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
if ARGV[14] == 'open' then
  redis.call('HINCRBY', KEYS[1], 'v:open', 1)
  redis.call('HSET', KEYS[4], ARGV[1], 'open')
end
redis.call('HSET', KEYS[6], 'st', 'queued', 'at', 0, 'org', ARGV[4], 'src', ARGV[8],
  'cat', ARGV[7], 'rcv', ARGV[2], 'n', n, 'h', ARGV[12], 'rb', ARGV[13], 'rv', ARGV[14],
  'ps', ARGV[15], 'ie', ARGV[16])
redis.call('XADD', KEYS[7], '*', 'id', ARGV[1], 'body', ARGV[9], 'h', ARGV[12], 'rb', ARGV[13])
redis.call('PUBLISH', ARGV[10], ARGV[11])
for k = 1, 6 do redis.call('EXPIRE', KEYS[k], ARGV[6]) end
return {1, n}
`)

// lookupScript reads everything about one IBAN in one round trip and
// writes nothing, so it may run on a replica. Reports past retention that
// no write has trimmed yet are taken off every count here, so counts are
// exact at any size.
//
// KEYS: i, o, z, v, x, m
// ARGV: cutoff_ms, then the starts of the 7, 30, 90 and 365 day windows
// (each at least the cutoff)
// Returns {0, cancelled, watermark, marker} or {count, reporters, first
// ms, last ms, counters (HGETALL of i with expired reports taken off),
// cancelled, watermark, marker (HGETALL of m), then reports and
// reporters per window}.
var lookupScript = redis.NewScript(`
local cutoff = ARGV[1]
local cancelled = redis.call('ZCOUNT', KEYS[5], cutoff, '+inf')
local marker = redis.call('HGETALL', KEYS[6])
local wm = redis.call('HGET', KEYS[1], 'wm') or '0'
local n = redis.call('ZCOUNT', KEYS[3], cutoff, '+inf')
if n == 0 then return {0, cancelled, wm, marker} end
local first = redis.call('ZRANGEBYSCORE', KEYS[3], cutoff, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local last = redis.call('ZREVRANGEBYSCORE', KEYS[3], '+inf', cutoff, 'WITHSCORES', 'LIMIT', 0, 1)
local counts = redis.call('HGETALL', KEYS[1])
local reporters = redis.call('HLEN', KEYS[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. cutoff)
if #old > 0 then
  local minus, orgs = {}, {}
  for _, m in ipairs(old) do
    local id, cat, src, org = string.match(m, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    if cat then
      minus['c:' .. cat] = (minus['c:' .. cat] or 0) + 1
      minus['s:' .. src] = (minus['s:' .. src] or 0) + 1
      orgs[org] = (orgs[org] or 0) + 1
      local b = redis.call('HGET', KEYS[4], id)
      if b then minus['v:' .. b] = (minus['v:' .. b] or 0) + 1 end
    end
  end
  for org, k in pairs(orgs) do
    if tonumber(redis.call('HGET', KEYS[2], org) or '0') - k <= 0 then reporters = reporters - 1 end
  end
  for j = 1, #counts, 2 do
    local d = minus[counts[j]]
    if d then counts[j + 1] = tostring(tonumber(counts[j + 1]) - d) end
  end
end
local out = {n, reporters, first[2], last[2], counts, cancelled, wm, marker}
-- One pass over the last 365 days: each member is parsed once and
-- counted in every window (7, 30, 90, 365 days) it falls in.
local starts, c, seen, distinct = {}, {0, 0, 0, 0}, {{}, {}, {}, {}}, {0, 0, 0, 0}
for w = 1, 4 do starts[w] = tonumber(ARGV[w + 1]) end
local recent = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[5], '+inf', 'WITHSCORES')
for j = 1, #recent, 2 do
  local score = tonumber(recent[j + 1])
  local org = string.match(recent[j], '^[^|]*|[^|]*|[^|]*|(.*)$')
  for w = 1, 4 do
    if score >= starts[w] then
      c[w] = c[w] + 1
      if org and not seen[w][org] then seen[w][org] = true; distinct[w] = distinct[w] + 1 end
    end
  end
end
for w = 1, 4 do
  out[#out + 1] = c[w]
  out[#out + 1] = distinct[w]
end
return out
`)

// reviewScript applies a review transition that the domain computed, if
// the report is still in the state the transition was computed from
// (compare and set: a concurrent action makes the caller read again). It
// moves the report between the review counts, and a cancellation takes it
// off every count (into the cancelled index), unless retention already
// did. It also queues the review event for the police store on the same
// outbox partition, after the report's own entry.
//
// KEYS: r, i, o, z, v, x, outbox
// ARGV: id, expected state, new bucket ("" for none), cancel (1/0), member,
// accepted ms, now ms, event key, event body ("" for none), wake channel,
// partition, holder, event name, iban, then field/value pairs for the
// report hash
// Returns 1 when applied, 0 when the state changed meanwhile.
var reviewScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'rv') ~= ARGV[2] then return 0 end
for k = 15, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[k], ARGV[k + 1]) end
local counted = redis.call('ZSCORE', KEYS[4], ARGV[5])
local old = redis.call('HGET', KEYS[5], ARGV[1])
if old then
  redis.call('HINCRBY', KEYS[2], 'v:' .. old, -1)
  redis.call('HDEL', KEYS[5], ARGV[1])
end
if counted and ARGV[3] ~= '' then
  redis.call('HINCRBY', KEYS[2], 'v:' .. ARGV[3], 1)
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[3])
end
if counted and ARGV[4] == '1' then
  local id, cat, src, org = string.match(ARGV[5], '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  redis.call('ZREM', KEYS[4], ARGV[5])
  redis.call('HINCRBY', KEYS[2], 'c:' .. cat, -1)
  redis.call('HINCRBY', KEYS[2], 's:' .. src, -1)
  if redis.call('HINCRBY', KEYS[3], org, -1) <= 0 then redis.call('HDEL', KEYS[3], org) end
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
end
redis.call('HSET', KEYS[2], 'wm', ARGV[7])
redis.call('HINCRBY', KEYS[2], 'ver', 1)
if ARGV[9] ~= '' then
  redis.call('XADD', KEYS[7], '*', 'id', ARGV[1], 'kind', 'event', 'key', ARGV[8], 'body', ARGV[9],
    'h', ARGV[12], 'ev', ARGV[13], 'ib', ARGV[14])
  redis.call('PUBLISH', ARGV[10], ARGV[11])
end
return 1
`)

var allScripts = []*redis.Script{appendEventScript, doneScript, claimScript, acceptScript, lookupScript, reviewScript, markerScript, finishScript, holdScript, dropConsumerScript, requeueScript, postAlertScript}
