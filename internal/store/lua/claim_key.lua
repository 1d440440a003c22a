-- claim_key: the first step of an idempotent alert, on the idempotency
-- record's own slot: remember (org, key) with the request's fingerprint
-- and a value (the alert's bank), or say that the key was used before
-- with the same ("seen") or with another request ("conflict").
-- KEYS: idempotency record.
local k, a = KEYS[1], claim_key_args(ARGV, 0)
local h = redis.call('HGET', k, 'h')
if h then
  if h ~= a.fingerprint then return 'conflict' end
  return 'seen'
end
redis.call('HSET', k, 'h', a.fingerprint, 'v', a.value)
redis.call('EXPIRE', k, a.ttl)
return 'new'
