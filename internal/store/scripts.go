package store

import "github.com/redis/go-redis/v9"

// trimLua drops reports older than the retention cutoff from an IBAN's
// time index and takes them off the category, source and reporter counts.
// Each index member carries its own category, source and org, so trimming
// never depends on another key still existing. It takes at most 1000 per
// call to keep a script short; whatever it leaves is still excluded from
// every count (see lookupScript and acceptScript), so the bound can never
// make a count wrong.
const trimLua = `
local function trim(i, o, z, cutoff)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. cutoff, 'LIMIT', 0, 1000)
  for _, m in ipairs(old) do
    local id, cat, src, org = string.match(m, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    if cat then
      redis.call('HINCRBY', i, 'c:' .. cat, -1)
      redis.call('HINCRBY', i, 's:' .. src, -1)
      if redis.call('HINCRBY', o, org, -1) <= 0 then redis.call('HDEL', o, org) end
    end
    redis.call('ZREM', z, m)
  end
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
// the IBAN's slot, in one atomic step, it records the report, updates the
// counters and the time index and appends the outbox entry. It refuses a
// report id it has already counted, so repeating it after a crash (or a
// concurrent replay) never counts twice. The report hash holds no IBAN,
// masked or not; only the outbox entry carries it, until it is forwarded.
//
// KEYS: i, o, z, r, outbox
// ARGV: id, now_ms, member, org, cutoff_ms, ttl_s, category, source, body,
// wake channel, partition
var acceptScript = redis.NewScript(trimLua + `
if redis.call('EXISTS', KEYS[4]) == 1 then
  return {0, tonumber(redis.call('HGET', KEYS[4], 'n'))}
end
trim(KEYS[1], KEYS[2], KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
local n = redis.call('ZCOUNT', KEYS[3], ARGV[5], '+inf')
redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[7], 1)
redis.call('HINCRBY', KEYS[1], 's:' .. ARGV[8], 1)
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
redis.call('HSET', KEYS[4], 'st', 'queued', 'at', 0, 'org', ARGV[4], 'src', ARGV[8],
  'cat', ARGV[7], 'rcv', ARGV[2], 'n', n)
redis.call('XADD', KEYS[5], '*', 'id', ARGV[1], 'body', ARGV[9])
redis.call('PUBLISH', ARGV[10], ARGV[11])
for k = 1, 4 do redis.call('EXPIRE', KEYS[k], ARGV[6]) end
return {1, n}
`)

// lookupScript reads everything about one IBAN in one round trip and
// writes nothing. Reports past retention that no write has trimmed yet
// are taken off the counts here, so counts are exact at any size.
//
// KEYS: i, o, z
// ARGV: cutoff_ms, cutoff_30d_ms
// Returns {0} or {count, reporters, last 30 days, first ms, last ms,
// HGETALL of the counters with expired reports taken off}.
var lookupScript = redis.NewScript(`
local n = redis.call('ZCOUNT', KEYS[3], ARGV[1], '+inf')
if n == 0 then return {0} end
local first = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local last = redis.call('ZREVRANGEBYSCORE', KEYS[3], '+inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, 1)
local counts = redis.call('HGETALL', KEYS[1])
local reporters = redis.call('HLEN', KEYS[2])
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1])
if #old > 0 then
  local minus, orgs = {}, {}
  for _, m in ipairs(old) do
    local id, cat, src, org = string.match(m, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    if cat then
      minus['c:' .. cat] = (minus['c:' .. cat] or 0) + 1
      minus['s:' .. src] = (minus['s:' .. src] or 0) + 1
      orgs[org] = (orgs[org] or 0) + 1
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
return {n, reporters, redis.call('ZCOUNT', KEYS[3], ARGV[2], '+inf'), first[2], last[2], counts}
`)

var allScripts = []*redis.Script{claimScript, acceptScript, lookupScript, finishScript, holdScript, dropConsumerScript, requeueScript, postAlertScript}
