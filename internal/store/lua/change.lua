-- change: apply a change to a report that the domain computed (a review
-- action, a recovery step), if the record is still the one it was
-- computed from (compare and set on the whole record): the new record,
-- the report's own fields (a.fields: name, value; "" deletes), the change
-- of the not-cancelled count, and the outbox entries it queues (a.entries,
-- packed by Go's packEntries: each entry a count of strings, then each
-- string as its length and its bytes, binary-safe for sealed values), for
-- the police store and the feeds, after the report's own entry.
-- KEYS: book, outbox. Returns 1 when applied, 0 when the record changed.
local book, outbox = KEYS[1], KEYS[2]
local a = change_args(ARGV, 0)
if redis.call('HGET', book, a.id) ~= a.expected then return 0 end
redis.call('HSET', book, a.id, a.record)
for k = 1, #a.fields, 2 do
  local f, v = a.fields[k], a.fields[k + 1]
  if v == '' then redis.call('HDEL', book, f) else redis.call('HSET', book, f, v) end
end
local wm, lo, nc = getw(book)
setw(book, tonumber(a.now), lo, nc + tonumber(a.uncounted))
local p, n = a.entries, 0
local i = 1
local function num()
  local j = string.find(p, ':', i, true)
  local v = tonumber(string.sub(p, i, j - 1))
  i = j + 1
  return v
end
while i <= #p do
  local e = {}
  for k = 1, num() do
    local l = num()
    e[k] = string.sub(p, i, i + l - 1)
    i = i + l
  end
  redis.call('XADD', outbox, '*', unpack(e))
  n = n + 1
end
if n > 0 then redis.call('PUBLISH', a.wake, a.partition) end
return 1
