-- threshold: set the book's threshold flag if the book exists (a book
-- that expired meanwhile is not made again). KEYS: book.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 't', '1') end
return 1
