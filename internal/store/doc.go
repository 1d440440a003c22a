// Package store is mulegate's Redis adapter and owns every Redis detail:
// the key layout, IBAN pseudonyms, the Lua scripts and the outbox streams.
// It implements what the domain and httpapi need through go-redis'
// UniversalClient, so a single Redis and a Redis Cluster are both served by
// configuration alone. It imports the domain, internal/iban and go-redis.
//
// Key layout. No key holds a plaintext IBAN: an IBAN is known by its
// pseudonym P = HMAC-SHA256(secret, normalised IBAN). The key space is
// split into N partitions (default 64) by a hash tag derived from P, so an
// IBAN's keys and its outbox partition share one cluster slot and every
// script touches a single slot:
//
//	mg:{pK}:i:P      hash    per-category (c:*) and per-source (s:*) counts
//	mg:{pK}:o:P      hash    reporter org -> reports, so HLEN = distinct orgs
//	mg:{pK}:z:P      zset    time index: "id|category|source|org" -> accepted ms
//	mg:{pK}:r:ID     hash    one report's status (forwarding state lives here)
//	mg:{pK}:outbox   stream  reports waiting to be forwarded to the police
//	mg:idem:ID       hash    idempotency record: fingerprint (h), partition tag (v)
//
// A report id is HMAC(secret, org, Idempotency-Key), so the same key from
// the same org always names the same report, whichever IBAN it carries.
package store
