-- claim: the first step of intake, on the idempotency bucket k: remember
-- report id "id" with its entry v (Store.claimValue), or say that it was
-- claimed before with the same ("seen") or another request ("conflict").
-- An entry from before day "first" counts as absent.
local function claim(k, id, v, first, ttl)
  local cur = redis.call('HMGET', k, 'lo', 'ex', id)
  local was = cur[3]
  if was and bday(was) >= first then
    if string.sub(was, CLAIM_FP, CLAIM_FP_END) ~= string.sub(v, CLAIM_FP, CLAIM_FP_END) then return 'conflict' end
    return 'seen'
  end
  dayput(k, id, v, first, ttl, nil, cur)
  return 'new'
end
