// Package outbox holds the two shapes that the store, which keeps the
// outbox in Redis streams, and the relay, which drains it to the police
// store, agree on. Neither adapter imports the other; both import this.
// No I/O; standard library only.
package outbox

import "time"

// Entry is one accepted report (or, later, a review event) waiting in the
// outbox to be forwarded to the police core store.
type Entry struct {
	Partition int
	StreamID  string // the stream entry id; its time part is when it was queued
	ReportID  string
	Body      []byte // the police wire body, ready to send
}

// Stats describes one outbox partition.
type Stats struct {
	Partition int
	Depth     int64
	Oldest    time.Time // zero when empty
}
