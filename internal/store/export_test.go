package store

import "github.com/mulegate/mulegate/internal/iban"

// Key names for the tests that reach into Redis.

// BookKey names an IBAN's book.
func (s *Store) BookKey(i iban.IBAN) string { return s.keysFor(i).book() }

// IdemBucketOf names the idempotency bucket of a report id.
func IdemBucketOf(id string) string { return idemBucket(rawID(id)) }

// RawID is a report id's field name in the buckets and the book.
func RawID(id string) string { return rawID(id) }
