-- claim_report: intake's first step on a cluster. KEYS: idempotency bucket.
local a = claim_report_args(ARGV, 0)
return claim(KEYS[1], a.id, a.entry, tonumber(a.first_day), a.ttl)
