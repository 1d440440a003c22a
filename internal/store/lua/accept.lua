-- accept: intake's second step on a cluster (on one Redis, accept_many
-- runs it with the claim). KEYS: book, outbox, then the report's report
-- index buckets, lowest level first (INDEX_LEVELS of them).
-- Returns {1, n} when recorded, {0, n at the time} for a replay.
return accept({book = KEYS[1], outbox = KEYS[2], index = {unpack(KEYS, 3)}}, accept_args(ARGV, 0))
