// Package outbox holds what the store, which keeps the outbox in Redis
// streams, and the relay, which drains it to the police store, agree on:
// the entry, partition statistics, the shared breaker trip, and the
// police wire bodies built at intake (wire.go). Neither adapter imports
// the other; both import this. No I/O; imports the domain (report).
package outbox

import "time"

// Entry is one accepted report (or, later, a review event) waiting in the
// outbox to be forwarded to the police core store.
type Entry struct {
	Partition int
	StreamID  string // the stream entry id; its time part is when it was queued
	ReportID  string
	// Pseudonym names the book of the report's IBAN (hex; "" for a feed
	// entry, which has no report).
	Pseudonym string
	// TraceParent is the W3C traceparent of the request that queued the
	// entry ("" without tracing): the forwarding call continues its trace.
	TraceParent string
	Kind        Kind
	Key         string // the Idempotency-Key for the police store: the report id, or <report id>:<event>
	Body        []byte // the police wire body, ready to send
	// For the holder's feed: the bank that holds the IBAN ("" for none),
	// the holder's deadline (reports), the event name and the IBAN
	// (review events).
	Holder    string
	RespondBy time.Time
	Event     string
	IBAN      string
	// PoliceOnly marks an entry put back by "outbox requeue": the holder's
	// feed had it the first time; only the police store needs it again.
	PoliceOnly bool
	// A feed event the entry carries for an org (Part 3: report.reviewed
	// for the reporter, recovery steps for the other side): its type, the
	// org and its data ("" type: none). Deadline is what the holder owes
	// next for a recovery (zero: nothing, the recovery is final).
	// Source is a linked report's source report id ("" for hop 0): the
	// police get a linked report only after its source.
	Source string
	// Children: a KindUpstream entry's linked reports.
	Children []string
	// A KindCorrect entry's clear: its time (ms), its reason (or
	// clear_withdrawn) and the risk a lookup answered just before it.
	ClearedAt    int64
	ClearReason  string
	PreviousRisk string
	FeedTo       string
	FeedType     string
	FeedData     []byte
	Deadline     time.Time
	// Requester is the org that requested a recovery (recovery entries):
	// its work list of recoveries in progress.
	Requester string
}

// Kind is what an entry carries to the police store.
type Kind string

const (
	// KindReport is a report: POST {police_url}/reports.
	KindReport Kind = ""
	// KindEvent is a review outcome of a report: POST
	// {police_url}/reports/{id}/events, only once the report itself has
	// been forwarded.
	KindEvent Kind = "event"
	// KindFeed is for the holder's feed only (a police marker set or
	// lifted): the forwarders pass it by.
	KindFeed Kind = "feed"
	// KindUpstream has a report's linked reports (Children) hear whether
	// it confirms them now: the holders' relay reads that from the
	// report's book and writes it into theirs; the forwarders pass it by.
	KindUpstream Kind = "upstream"
	// KindCorrect tells those who acted on an IBAN's old answer that the
	// police cleared it (or withdrew a clear): the holders' relay writes
	// one iban.corrected into each one's feed; the forwarders pass it by.
	KindCorrect Kind = "correct"
)

// Stats describes one outbox partition.
type Stats struct {
	Partition int
	Depth     int64
	Oldest    time.Time // zero when empty
}

// Trip is a police breaker trip shared between gateway processes: a
// unique id and how long it still lasts. It never carries a time, so
// processes whose clocks disagree honour it for the same duration from
// the moment they learn of it.
type Trip struct {
	ID   string
	Left time.Duration
}
