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
func bookPrefix(tag string) string { return "mg:" + tag + ":b:" }

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

// indexBucket names the report index bucket of a raw report id in a
// partition.
func indexBucket(tag, raw string) string {
	return "mg:" + tag + ":ix:" + hex.EncodeToString([]byte(raw[:1]))
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
