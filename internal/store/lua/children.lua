-- children: add linked reports to their source's list of onward reports
-- (o:<id>: raw ids, ID_LEN bytes each), each once, and queue the source's
-- word for the new ones (a KindUpstream entry, their ids in hex); only
-- while the source's record is in the book. KEYS: the source's book, its
-- outbox.
local book, outbox, a = KEYS[1], KEYS[2], children_args(ARGV, 0)
if redis.call('HEXISTS', book, a.id) == 0 then return 0 end
local f = 'o:' .. a.id
local cur = redis.call('HGET', book, f) or ''
local have = {}
for i = 1, #cur, ID_LEN do have[string.sub(cur, i, i + ID_LEN - 1)] = true end
local add = {}
for i = 1, #a.children, ID_LEN do
  local c = string.sub(a.children, i, i + ID_LEN - 1)
  if not have[c] then have[c] = true; add[#add + 1] = c end
end
if #add == 0 then return 1 end
local new = table.concat(add)
redis.call('HSET', book, f, cur .. new)
redis.call('XADD', outbox, '*', 'id', a.subject, 'ps', a.pseudo, 'kind', 'upstream', 'kids', tohex(new))
redis.call('PUBLISH', a.wake, a.partition)
return 1
