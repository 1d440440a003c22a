package domain

import "time"

// RateLimit is one rate policy: a steady rate per second and a burst (the
// most that may be spent at once). GCRA: tokens refill continuously.
type RateLimit struct {
	PerSecond int
	Burst     int
}

// Limits are an org's two policies: lookups (a batch costs one per IBAN)
// and writes (reports, review actions, cancels, alerts, markers).
type Limits struct {
	Lookups RateLimit
	Writes  RateLimit
	// WritesPerDay bounds the writes of one UTC day (0: none); Streams the
	// open SSE streams and waiting long polls at once (0: none).
	WritesPerDay int
	Streams      int
}

// RateClass names a policy.
type RateClass string

const (
	RateLookups RateClass = "lookups"
	RateWrites  RateClass = "writes"
)

// Of is the policy of a class.
func (l Limits) Of(c RateClass) RateLimit {
	if c == RateWrites {
		return l.Writes
	}
	return l.Lookups
}

// RateDecision is the limiter's answer for one request.
type RateDecision struct {
	Allowed    bool
	Limit      RateLimit
	Remaining  int
	RetryAfter time.Duration // until the request could pass (when not allowed)
	ResetAfter time.Duration // until the bucket is full again
}

// IBANKey is how the store knows an IBAN: its keyed pseudonym and its
// partition. Computed once per request, it serves the store's reads, the
// audit record and the lookup log alike.
type IBANKey struct {
	Pseudonym string
	Partition int
}

// OrgLookups is how often one org looked an IBAN up.
type OrgLookups struct {
	Org         string
	OrgType     OrgType
	Lookups     int64
	First, Last time.Time
}
