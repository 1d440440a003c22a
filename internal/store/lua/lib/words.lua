-- queue_words: every report of the book that has linked reports (o:<id>)
-- queues its word for them (a KindUpstream entry); each source's id and
-- its linked reports' ids (hex) are appended to out, for the caller's
-- eager writes. Needs lib/record (tohex).
local function queue_words(book, outbox, pseudo, out)
  local queued = false
  local all = redis.call('HGETALL', book)
  for j = 1, #all, 2 do
    local f = all[j]
    if string.sub(f, 1, 2) == 'o:' and #f == 2 + ID_LEN then
      local id, kids = tohex(string.sub(f, 3)), tohex(all[j + 1])
      redis.call('XADD', outbox, '*', 'id', id, 'ps', pseudo, 'kind', 'upstream', 'kids', kids)
      out[#out + 1] = id
      out[#out + 1] = kids
      queued = true
    end
  end
  return queued
end
