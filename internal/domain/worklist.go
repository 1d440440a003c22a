package domain

import (
	"strconv"
	"strings"
	"time"
)

// WorkList names a work list (SPEC Part 3, precise point 12): the reports
// an org has to do something about, earliest deadline first.
type WorkList string

// The work lists.
const (
	ReviewsDue      WorkList = "reviews"              // a holder's open and acknowledged reviews, by respond_by
	RecoveriesHeld  WorkList = "recoveries:holder"    // a holder's unfinished recoveries, by what it owes next
	RecoveriesAsked WorkList = "recoveries:requester" // a requester's unfinished recoveries, by what the holder owes next
)

// WorkItem is one entry of a work list: a report and its deadline.
type WorkItem struct {
	ReportID string
	Due      time.Time
}

// WorkCursor is where a work list page ends: the last item's deadline
// (ms) and report id.
type WorkCursor struct {
	Due int64
	ID  string
}

// CursorOf is the cursor just after it.
func CursorOf(it WorkItem) WorkCursor { return WorkCursor{Due: it.Due.UnixMilli(), ID: it.ReportID} }

// IsZero reports whether c is the start of the list.
func (c WorkCursor) IsZero() bool { return c.ID == "" }

// String is the cursor as the API shows it ("" at the start).
func (c WorkCursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.Due, 10) + "-" + c.ID
}

// ParseWorkCursor reads a cursor String made ("" is the start).
func ParseWorkCursor(v string) (WorkCursor, error) {
	if v == "" {
		return WorkCursor{}, nil
	}
	due, id, ok := strings.Cut(v, "-")
	ms, err := strconv.ParseInt(due, 10, 64)
	if !ok || err != nil || ms < 0 || len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return WorkCursor{}, Invalid("after", "after must be a cursor returned by this API")
	}
	return WorkCursor{Due: ms, ID: id}, nil
}

// ValidActor reports whether a is a valid X-Actor, the person a client
// acts for: 1-128 visible ASCII characters (0x21-0x7e).
func ValidActor(a string) bool {
	if a == "" || len(a) > 128 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] < 0x21 || a[i] > 0x7e {
			return false
		}
	}
	return true
}
