-- book_words: set or delete an IBAN's own fields (a.fields: name, value;
-- "" deletes) and move the book's watermark. A book with records is
-- retired with them (prune); one without keeps the retention after its
-- last write. KEYS: book.
local book, a = KEYS[1], book_words_args(ARGV, 0)
for k = 1, #a.fields, 2 do
  if a.fields[k + 1] == '' then redis.call('HDEL', book, a.fields[k])
  else redis.call('HSET', book, a.fields[k], a.fields[k + 1]) end
end
local n = redis.call('HLEN', book)
if n == 0 or (n == 1 and redis.call('HEXISTS', book, 'w') == 1) then
  redis.call('DEL', book) -- nothing left but the watermark
  return 1
end
local wm, lo, nc = getw(book)
setw(book, math.max(wm, tonumber(a.now)), lo, nc)
if lo then redis.call('PERSIST', book) else redis.call('EXPIRE', book, a.ttl) end
return 1
