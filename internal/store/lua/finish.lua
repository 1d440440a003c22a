-- finish: record a final outcome (forwarded or rejected) on the report's
-- record and remove the entry from the outbox, atomically, on one slot.
-- For a review event or a feed entry (status "event") it only removes
-- the entry. A rejected report's police body moves to the partition's
-- rejected hash (for "outbox requeue"). A police reference that would
-- make the record too long for the book's compact encoding (or holds the
-- separator) goes in its own field.
-- KEYS: stream, book, rejected hash.
local stream, book, rejected = KEYS[1], KEYS[2], KEYS[3]
local a = finish_args(ARGV, 0)
local raw = a.id
local rec = nil
if a.status ~= 'event' then rec = redis.call('HGET', book, raw) end
if rec then
  local t = fields(rec)
  t[F_AT] = tostring((tonumber(t[F_AT]) or 0) + 1)
  t[F_ST] = a.status
  if a.status == ST_FORWARDED then
    t[F_FWD] = b36(math.max(0, tonumber(a.at) - tonumber(t[F_RCV], 36)))
    t[F_REF] = a.ref
    redis.call('HDEL', book, 'e:' .. raw, 'p:' .. raw)
    local packed = pack(t)
    if #packed > MAX_RECORD or a.ref == SPILLED or string.find(a.ref, SEP, 1, true) then
      t[F_REF] = SPILLED
      packed = pack(t)
      redis.call('HSET', book, 'p:' .. raw, a.ref)
    end
    redis.call('HSET', book, raw, packed)
  else
    redis.call('HSET', book, raw, pack(t), 'e:' .. raw, a.error)
  end
end
if a.status == ST_REJECTED then
  redis.call('HSET', rejected, a.report_id, a.body)
  redis.call('EXPIRE', rejected, a.ttl)
end
redis.call('XACK', stream, a.group, a.entry)
if consumed(stream, a.other_group, a.entry) then redis.call('XDEL', stream, a.entry) end
return 1
