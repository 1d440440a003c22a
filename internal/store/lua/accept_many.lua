-- accept_many: on one Redis, for each report of a batch, the claim and,
-- unless it is a conflict, the accept. KEYS per report: its idempotency
-- bucket, book, outbox, then its report index buckets (INDEX_LEVELS,
-- lowest level first); ARGV per report: its claim_report_args, then its
-- accept_args.
-- Returns per report accept's answer, or {-1, 0} for a conflict.
local out, stride, kn = {}, CLAIM_REPORT_N + ACCEPT_N, 3 + INDEX_LEVELS
for r = 0, #KEYS / kn - 1 do
  local o, ko = stride * r, kn * r
  local c = claim_report_args(ARGV, o)
  if claim(KEYS[ko + 1], c.id, c.entry, tonumber(c.first_day), c.ttl) == 'conflict' then
    out[r + 1] = {-1, 0}
  else
    local k = {book = KEYS[ko + 2], outbox = KEYS[ko + 3], index = {unpack(KEYS, ko + 4, ko + kn)}}
    out[r + 1] = accept(k, accept_args(ARGV, o + CLAIM_REPORT_N))
  end
end
return out
