-- consumed says whether a consumer group is done with a stream entry: it
-- was delivered to the group (not after its last-delivered id) and is
-- not pending. A group that does not exist waits for nothing.
local function sid(x)
  local m, q = string.match(x, '^(%d+)-(%d+)$')
  if not m then m, q = string.match(x, '^(%d+)$'), '0' end
  return tonumber(m) or 0, tonumber(q) or 0
end
local function later(a, b)
  local am, as = sid(a)
  local bm, bs = sid(b)
  if am ~= bm then return am > bm end
  return as > bs
end
local function consumed(stream, group, id)
  local last = nil
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, ld
    for k = 1, #g, 2 do
      if g[k] == 'name' then name = g[k + 1] end
      if g[k] == 'last-delivered-id' then ld = g[k + 1] end
    end
    if name == group then last = ld end
  end
  if last == nil then return true end
  if later(id, last) then return false end
  return #redis.call('XPENDING', stream, group, id, id, 1) == 0
end
