-- done: acknowledge an entry for one group and delete it once the other
-- group is done with it too. KEYS: stream.
local stream, a = KEYS[1], done_args(ARGV, 0)
redis.call('XACK', stream, a.group, a.entry)
if consumed(stream, a.other_group, a.entry) then redis.call('XDEL', stream, a.entry) end
return 1
