-- earlier_pending: whether the group holds an entry before the given one,
-- of the same report, that it has not finished. A pending list longer
-- than 1000 entries before it answers "yes" (wait: the older ones are
-- worked off first). KEYS: stream.
local stream, a = KEYS[1], earlier_pending_args(ARGV, 0)
local p = redis.call('XPENDING', stream, a.group, '-', a.entry, 1001)
if #p > 1000 then return 1 end
for _, e in ipairs(p) do
  if e[1] ~= a.entry then
    local m = redis.call('XRANGE', stream, e[1], e[1])
    if #m > 0 then
      local f = m[1][2]
      for k = 1, #f, 2 do
        if f[k] == 'id' then
          if f[k + 1] == a.report_id then return 1 end
          break
        end
      end
    end
  end
end
return 0
