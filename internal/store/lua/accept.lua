-- accept: intake's second step on a cluster (on one Redis, accept_many
-- runs it with the claim). KEYS: book, report index bucket, outbox.
-- Returns {1, n} when recorded, {0, n at the time} for a replay.
return accept({book = KEYS[1], index = KEYS[2], outbox = KEYS[3]}, accept_args(ARGV, 0))
