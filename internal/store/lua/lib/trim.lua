-- trim and prune retire the records past retention from a book (prune.go).
local function trim(b, cutoff, nc)
  local all = redis.call('HGETALL', b)
  local lo = nil
  for j = 1, #all, 2 do
    local f = all[j]
    if #f == ID_LEN then
      local t = fields(all[j + 1])
      local rcv = tonumber(t[F_RCV], 36)
      if rcv < cutoff then
        redis.call('HDEL', b, f, 'd:' .. f, 'c:' .. f, 'e:' .. f, 'p:' .. f, 'x:' .. f, 'r:' .. f, 'k:' .. f, 'o:' .. f, 'u:' .. f)
        if t[F_REVIEW] ~= RV_CANCELLED then nc = nc - 1 end
      elseif not lo or rcv < lo then lo = rcv end
    end
  end
  return lo, nc
end
local function prune(prefix, e, cutoff)
  local b = prefix .. string.sub(e, 3)
  local wm, lo, nc = getw(b)
  if lo and lo >= cutoff then return end
  if lo then lo, nc = trim(b, cutoff, nc) end
  if lo then
    setw(b, wm, lo, nc)
  elseif redis.call('HEXISTS', b, 'm:at') == 0 and redis.call('HEXISTS', b, 'hs') == 0 then
    redis.call('DEL', b)
  else
    setw(b, wm, nil, nc)
  end
end
