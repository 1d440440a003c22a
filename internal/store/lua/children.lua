-- children: add linked reports to their source's list of onward reports
-- (o:<id>: hex ids, 32 characters each), each once; only while the
-- source's record is in the book. KEYS: the source's book.
local book, a = KEYS[1], children_args(ARGV, 0)
if redis.call('HEXISTS', book, a.id) == 0 then return 0 end
local f = 'o:' .. a.id
local cur = redis.call('HGET', book, f) or ''
local add = ''
for i = 1, #a.children, 32 do
  local c = string.sub(a.children, i, i + 31)
  if not string.find(cur, c, 1, true) and not string.find(add, c, 1, true) then add = add .. c end
end
if add ~= '' then redis.call('HSET', book, f, cur .. add) end
return 1
