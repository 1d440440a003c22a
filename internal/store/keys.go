package store

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// Key builders: every Redis key the store writes is named here (the
// layout is in doc.go). Scripts receive their keys from these, in KEYS.

// OutboxKey names the outbox stream of partition p.
func (s *conn) OutboxKey(p int) string { return "mg:" + s.tags[p] + ":outbox" }

// bookPrefix is what the names of a partition's books start with (the
// pseudonym's 16 bytes follow; ibanKeys.book).
func bookPrefix(tag string) string { return string(appendBookPrefix(nil, tag)) }

// appendBookPrefix appends bookPrefix(tag) to b (ibanKeys.book builds a
// book's name in a buffer of its own).
func appendBookPrefix(b []byte, tag string) []byte {
	return append(append(append(b, "mg:"...), tag...), ":b:"...)
}

// rejectedKey holds, per partition, the police body of each report the
// police store refused (for requeue).
func rejectedKey(tag string) string { return "mg:" + tag + ":rejected" }

// parkedKey holds, per rejected report, the events that came after its
// rejection (a JSON list, in order), for requeue.
func parkedKey(tag string) string { return "mg:" + tag + ":parked" }

// idemBucket names the idempotency bucket of a raw report id.
func idemBucket(raw string) string {
	n := binary.BigEndian.Uint16([]byte(raw[:2])) % idemBuckets
	return "mg:{d:" + strconv.FormatUint(uint64(n), 16) + "}"
}

// A partition's report index is kept in levels of buckets: level L has
// 2^L buckets, a report's bucket at level L is named by the first L bits
// of its raw id. Intake writes an entry into the lowest level whose
// bucket holds fewer than indexFill entries (or where the id already
// is); the top level takes any number. So a small index fills a few
// full buckets, not one key per report (a Redis key costs about 90
// bytes before its first entry: 89 bytes a report at 20,000 reports in
// 64 x 256 buckets, about 40 in levels), and a large one keeps its
// buckets small enough for Redis' compact encoding. The top level's
// names are layout 5's 256 buckets. Readers ask every level.
const (
	indexMinLevel = 2
	indexTopLevel = 8 // the first byte: layout 5's buckets
	indexLevels   = indexTopLevel - indexMinLevel + 1
	indexFill     = 64
)

// indexBucketAt names bucket b of level l of a partition's report index.
func indexBucketAt(tag string, l int, b byte) string {
	if l == indexTopLevel {
		return "mg:" + tag + ":ix:" + hex.EncodeToString([]byte{b})
	}
	return "mg:" + tag + ":ix:L" + strconv.Itoa(l) + ":" + strconv.FormatUint(uint64(b), 16)
}

// indexBuckets names a raw report id's bucket at every level of a
// partition's report index, lowest first (the top level last).
func indexBuckets(tag, raw string) []string {
	out := make([]string, 0, indexLevels)
	for l := indexMinLevel; l <= indexTopLevel; l++ {
		out = append(out, indexBucketAt(tag, l, raw[0]>>(8-l)))
	}
	return out
}

// eachIndexBucket calls each for every bucket name of a partition's
// report index, level by level.
func eachIndexBucket(tag string, each func(k string) error) error {
	for l := indexMinLevel; l <= indexTopLevel; l++ {
		for b := range 1 << l {
			if err := each(indexBucketAt(tag, l, byte(b))); err != nil {
				return err
			}
		}
	}
	return nil
}

// A bank's feeds, on its own hash tag (an alert and its alert.created
// event are written by one script).
func alertStream(org string) string { return "mg:{a:" + org + "}:alerts" }
func alertIDs(org string) string    { return "mg:{a:" + org + "}:aids" }
func eventStream(org string) string { return "mg:{a:" + org + "}:events" }
func eventIDs(org string) string    { return "mg:{a:" + org + "}:eidx" }

// dueKey is a bank's open reviews by deadline: report id -> respond_by
// ms, kept by the holders' relay (added with report.received, removed
// when the review is closed or the report cancelled).
func dueKey(org string) string { return "mg:{a:" + org + "}:due" }

// recoveriesDueKey is a bank's unfinished recoveries as holder: report id
// -> the deadline of what it owes next, ms (the relay keeps it).
func recoveriesDueKey(org string) string { return "mg:{a:" + org + "}:rdue" }

// recoveriesAskedKey is a bank's unfinished recoveries as requester:
// report id -> the deadline of what the holder owes next, ms (the relay
// keeps it).
func recoveriesAskedKey(org string) string { return "mg:{a:" + org + "}:rreq" }

// streamsKey holds an org's open streams and long polls by lease end.
func streamsKey(org string) string { return "rate:mg:{l:" + org + "}:streams" }

// dayKey counts an org's writes of one UTC day (YYYYMMDD).
func dayKey(org, day string) string { return "rate:mg:{l:" + org + "}:day:" + day }
