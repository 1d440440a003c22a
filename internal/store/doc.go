// Package store is mulegate's Redis adapter and owns every Redis detail:
// the key layout, IBAN pseudonyms, the Lua scripts and the outbox streams.
// It implements what the domain and httpapi need through go-redis'
// UniversalClient, so a single Redis and a Redis Cluster are both served by
// configuration alone. It imports the domain, internal/iban and go-redis.
//
// Key layout. No key holds a plaintext IBAN: an IBAN is known by its
// pseudonym P = HMAC-SHA256(secret, normalised IBAN), 16 bytes. The key
// space is split into N partitions (default 64) by a hash tag derived
// from P, so an IBAN's book, its report index and its outbox partition
// share one cluster slot and every script touches a single slot:
//
//	mg:{pK}:b:P        hash    the IBAN's book: one record per report, the sealed IBAN,
//	                           the watermark, the marker, the threshold flag (record.go);
//	                           P raw in the name. One key per reported IBAN; no TTL
//	                           (unless it holds a marker): the report index retires it (prune.go).
//	mg:{pK}:ix:LN:B    hash    report index: raw report id -> day + P, so a report is
//	mg:{pK}:ix:BB              found from its IBAN's own keys; in levels of 2^N buckets
//	                           (N 2-7, B the id's first N bits in hex, filled lowest first
//	                           up to 64 entries) over the top level's 256 (BB: the first
//	                           byte, any number of entries; keys.go)
//	mg:{pK}:a:P        hash    who looked the IBAN up (see lookups.go; P in hex)
//	mg:{pK}:outbox     stream  reports, review events and feed entries waiting for the
//	                           forwarders and the holders' relay (two consumer groups)
//	mg:{pK}:rejected   hash    report id -> body of a report the police store refused (requeue)
//	mg:{pK}:parked     hash    report id -> its events after the refusal, a JSON list in order (requeue)
//	mg:{d:NNNN}        hash    idempotency buckets (16384): raw report id -> day, 8-byte
//	                           fingerprint, partition
//	mg:aidem:ID        hash    alert idempotency record: fingerprint (h), bank org (v)
//	mg:{a:ORG}:alerts|aids|events|eidx|due   a bank's alert and event feeds (alerts.go, events.go);
//	                                         alerts' IBANs and events' data sealed (sealblob.go)
//	rate:mg:{l:ORG}:lookups|writes           rate-limit buckets (redis_rate)
//	rate:mg:{l:ORG}:day:YYYYMMDD             writes of one UTC day (limits.go)
//	rate:mg:{l:ORG}:streams                  zset: open streams and long polls, by lease end
//	mg:layout                                hash: data layout version, secret check (layout.go)
//	mg:breaker:police:trip                   the shared breaker trip (id; TTL = what is left)
//
// This is layout 6 (layout.go). Older layouts are rewritten into it by
// "mulegate migrate" (package store/migrate); the store reads no other.
//
// A report id is HMAC(secret, org, Idempotency-Key), so the same key from
// the same org always names the same report, whichever IBAN it carries.
package store
