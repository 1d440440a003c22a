package domain

import (
	"encoding/json"
	"strings"
	"time"
)

// EventType is what a bank's feed event is about.
type EventType string

// The event types of a bank's feed.
const (
	EventReportReceived   EventType = "report.received"
	EventReportCancelled  EventType = "report.cancelled"
	EventAlertCreated     EventType = "alert.created"
	EventIBANThreshold    EventType = "iban.threshold"
	EventMarkerRegistered EventType = "marker.registered"
	EventMarkerCancelled  EventType = "marker.cancelled"
	// Part 3: a report's outcome for its reporter, and its recovery's
	// steps (the requester hears of the holder's, the holder of the
	// requester's).
	EventReportReviewed    EventType = "report.reviewed"
	EventRecoveryRequested EventType = "recovery.requested"
	EventRecoveryHeld      EventType = "recovery.held"
	EventRecoveryReturned  EventType = "recovery.returned"
	EventRecoveryRejected  EventType = "recovery.rejected"
	EventRecoveryReleased  EventType = "recovery.released"
	// EventIBANCorrected: the police cleared an IBAN (or withdrew a
	// clear), for every org that acted on its old answer.
	EventIBANCorrected EventType = "iban.corrected"
)

// EventTypes is the closed list, in API order.
var EventTypes = []EventType{EventReportReceived, EventReportCancelled, EventAlertCreated,
	EventIBANThreshold, EventMarkerRegistered, EventMarkerCancelled, EventReportReviewed,
	EventRecoveryRequested, EventRecoveryHeld, EventRecoveryReturned, EventRecoveryRejected, EventRecoveryReleased,
	EventIBANCorrected}

// ParseEventTypes reads a types filter: comma-separated event types; an
// empty filter is every type.
func ParseEventTypes(raw string) (map[EventType]bool, error) {
	out := map[EventType]bool{}
	if raw == "" {
		return out, nil
	}
	for _, t := range strings.Split(raw, ",") {
		et := EventType(strings.TrimSpace(t))
		known := false
		for _, k := range EventTypes {
			known = known || et == k
		}
		if !known {
			names := make([]string, len(EventTypes))
			for i, k := range EventTypes {
				names[i] = string(k)
			}
			return nil, Invalid("types", "types must be a comma-separated list of "+strings.Join(names, ", "))
		}
		out[et] = true
	}
	return out, nil
}

// Event is one entry of a bank's feed. Data is the type's JSON object.
type Event struct {
	ID        string // stable across redeliveries
	Type      EventType
	Cursor    string
	CreatedAt time.Time
	Data      json.RawMessage
}
