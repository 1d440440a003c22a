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
//	mg:{pK}:i:P        hash    counts of the IBAN's counted reports: per category (c:*),
//	                           per source (s:*), per review bucket (v:open|confirmed|disputed);
//	                           wm (newest change, ms) and ver (bumped by every write, so a
//	                           lookup's plain reads can tell that a write came between them)
//	mg:{pK}:o:P        hash    reporter org -> counted reports, so HLEN = distinct orgs
//	mg:{pK}:z:P        zset    time index of counted reports: "id|category|source|org" -> accepted ms
//	mg:{pK}:v:P        hash    report id -> its review bucket, while it counts
//	mg:{pK}:x:P        zset    cancelled reports: id -> accepted ms (for cancelled_count)
//	mg:{pK}:m:P        hash    the IBAN's marker (ft, bt, by, at, det)
//	mg:{pK}:t:P        string  set while the IBAN is past the iban.threshold event
//	mg:{pK}:a:P        hash    who looked the IBAN up (see lookups.go)
//	mg:{pK}:r:ID       hash    one report: forwarding status, review, holder, sealed IBAN (ie)
//	mg:{pK}:outbox     stream  reports, review events and feed entries waiting for the
//	                           forwarders and the holders' relay (two consumer groups)
//	mg:{pK}:rejected   hash    report id -> body of a report the police store refused (requeue)
//	mg:idem:ID         hash    report idempotency record: fingerprint (h), partition tag (v)
//	mg:aidem:ID        hash    alert idempotency record: fingerprint (h), bank org (v)
//	mg:{a:ORG}:alerts|aids|events|eids|due   a bank's alert and event feeds (alerts.go, events.go)
//	rate:mg:{l:ORG}:lookups|writes           rate-limit buckets (redis_rate)
//	mg:breaker:police:open_until             the shared breaker trip
//
// A report id is HMAC(secret, org, Idempotency-Key), so the same key from
// the same org always names the same report, whichever IBAN it carries.
package store
