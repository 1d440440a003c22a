-- accept: the step of intake that counts (accept.lua runs it for one
-- report, accept_many.lua for each of a batch). k names the book, the
-- report's report index buckets (index, lowest level first) and the
-- outbox; a is accept_args (acceptArgs).
local function accept(k, a)
  local b = k.book
  local cur = redis.call('HMGET', b, a.id, 'w', 'm:at', 'j')
  if cur[1] then return {0, tonumber(fields(cur[1])[F_N], 36)} end
  local wm, lo, nc = 0, nil, 0
  if cur[2] then
    wm, lo, nc = parsew(cur[2])
  elseif cur[4] then -- records without a "w" (recordsw); a book with none has no j yet
    wm, lo, nc = recordsw(b)
  end
  local now, cutoff = tonumber(a.now), tonumber(a.cutoff)
  if lo and lo < cutoff then lo, nc = trim(b, cutoff, nc) end
  nc = nc + 1
  if not lo or now < lo then lo = now end
  -- The holder's name is kept once, before the sealed IBAN in the book's
  -- j field; its records cite it as SAME_HOLDER. No table is built: the
  -- record's parts are joined around n and the holder.
  local jh, js = nil, nil
  if cur[4] then jh, js = string.match(cur[4], '^([^\31]*)\31(.*)$') end
  if js == '' then js = nil end
  local holder, newh, bh = a.holder, nil, nil
  if jh and jh ~= '' then bh = jh end
  if holder ~= '' then
    if not bh then newh = holder; bh = holder end
    if bh == holder then holder = SAME_HOLDER end
  end
  local rec = a.head .. SEP .. b36(nc) .. SEP .. a.mid .. SEP .. holder
  if a.tail ~= '' then rec = rec .. SEP .. a.tail end
  local set = {a.id, rec}
  -- A book of up to three records, none changed since accepted, has no
  -- "w" (recordsw reads them; 17 bytes a book, and the difference between
  -- Redis' 128- and 160-byte allocation for one record, 192 and 224 for two).
  if cur[2] or nc > 3 then set[#set + 1] = 'w'; set[#set + 1] = fmtw(now, lo, nc) end
  if newh or not js then
    set[#set + 1] = 'j'; set[#set + 1] = (newh or jh or '') .. SEP .. (js or a.sealed)
  end
  if a.chain ~= '' then set[#set + 1] = 'k:' .. a.id; set[#set + 1] = a.chain end
  redis.call('HSET', b, unpack(set))
  -- No TTL: the report index retires the book (prune). A marker keeps
  -- the book for the retention after its last write (marker.lua).
  if cur[3] then redis.call('EXPIRE', b, a.ttl) else redis.call('PERSIST', b) end
  indexput(k.index, a.id, a.index_entry, tonumber(a.index_first_day), a.ttl, function(e) prune(a.book_prefix, e, cutoff) end)
  if a.chain ~= '' then
    redis.call('XADD', k.outbox, '*', 'id', a.report_id, 'ps', a.pseudonym, 'body', a.body, 'h', a.holder, 'rb', a.respond_by,
      'tp', a.traceparent, 'src', a.source)
  else
    redis.call('XADD', k.outbox, '*', 'id', a.report_id, 'ps', a.pseudonym, 'body', a.body, 'h', a.holder, 'rb', a.respond_by,
      'tp', a.traceparent)
  end
  redis.call('PUBLISH', a.wake, a.partition)
  return {1, nc}
end
