package store

import "github.com/mulegate/mulegate/internal/iban"

// Key names for the tests that reach into Redis.

// BookKey names an IBAN's book.
func (s *Store) BookKey(i iban.IBAN) string { return s.keysFor(i).book() }

// IdemBucketOf names the idempotency bucket of a report id.
func IdemBucketOf(id string) string { return idemBucket(rawID(id)) }

// RawID is a report id's field name in the buckets and the book.
func RawID(id string) string { return rawID(id) }

// IndexBucketsOf names the report index bucket at every level for a
// report id of IBAN i, lowest level first (the top level, layout 5's
// bucket, last).
func (s *Store) IndexBucketsOf(i iban.IBAN, id string) []string {
	return indexBuckets(s.keysFor(i).tag, rawID(id))
}

// LookupLogKey names the hash of who looked IBAN i up.
func (s *Store) LookupLogKey(i iban.IBAN) string { return s.keysFor(i).lookupLog() }
