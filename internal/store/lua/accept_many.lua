-- accept_many: on one Redis, for each report of a batch, the claim and,
-- unless it is a conflict, the accept. KEYS per report: its idempotency
-- bucket, book, report index bucket, outbox; ARGV per report: its
-- claim_report_args, then its accept_args.
-- Returns per report accept's answer, or {-1, 0} for a conflict.
local out, stride = {}, CLAIM_REPORT_N + ACCEPT_N
for r = 0, #KEYS / 4 - 1 do
  local o = stride * r
  local c = claim_report_args(ARGV, o)
  if claim(KEYS[4 * r + 1], c.id, c.entry, tonumber(c.first_day), c.ttl) == 'conflict' then
    out[r + 1] = {-1, 0}
  else
    local k = {book = KEYS[4 * r + 2], index = KEYS[4 * r + 3], outbox = KEYS[4 * r + 4]}
    out[r + 1] = accept(k, accept_args(ARGV, o + CLAIM_REPORT_N))
  end
end
return out
