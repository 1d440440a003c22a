package client

import (
	"context"
	"errors"
	"net/url"
	"strconv"
)

// Work lists (SPEC Part 3): what a bank has to act on, earliest deadline
// first, a page at a time.

// WorkPage is one page of a work list; NextCursor is the After of the
// next page (the same cursor when the page was empty).
type WorkPage struct {
	Reports    []ReportStatus `json:"reports"`
	NextCursor string         `json:"next_cursor"`
}

// ReviewOptions filter and page GET /v1/reviews.
type ReviewOptions struct {
	State ReviewState // ReviewOpen or ReviewAcknowledged; "" both
	// Overdue: nil all, Ptr(true) past respond_by only, Ptr(false) not yet.
	Overdue *bool
	After   string // a NextCursor; "" from the start
	Limit   int    // 1-1000; 0 the gateway's default (100)
}

// Reviews is GET /v1/reviews (the holding bank, scope reports:review):
// the reports about its accounts awaiting its answer, earliest
// respond_by first, each as Report shows it to the holder.
func (c *Client) Reviews(ctx context.Context, o ReviewOptions) (*WorkPage, error) {
	q := pageQuery(o.After, o.Limit)
	if o.State != "" {
		q.Set("state", string(o.State))
	}
	if o.Overdue != nil {
		q.Set("overdue", strconv.FormatBool(*o.Overdue))
	}
	var out WorkPage
	_, _, err := c.do(ctx, call{method: "GET", path: "/v1/reviews", query: q, safe: true}, &out)
	return &out, err
}

// Role is a bank's side of a recovery.
type Role string

// The sides of a recovery.
const (
	RoleHolder    Role = "holder"    // the bank that holds the account and owes the money back
	RoleRequester Role = "requester" // the bank that asked for it
)

// RecoveryOptions filter and page GET /v1/recoveries.
type RecoveryOptions struct {
	State RecoveryState // RecoveryRequested or RecoveryHeld; "" both
	After string        // a NextCursor; "" from the start
	Limit int           // 1-1000; 0 the gateway's default (100)
}

// Recoveries is GET /v1/recoveries (scope recoveries:write): the bank's
// unfinished recoveries as holder or as requester, earliest deadline
// first.
func (c *Client) Recoveries(ctx context.Context, role Role, o RecoveryOptions) (*WorkPage, error) {
	if role == "" {
		return nil, errors.New("client: a role (RoleHolder or RoleRequester) is required")
	}
	q := pageQuery(o.After, o.Limit)
	q.Set("role", string(role))
	if o.State != "" {
		q.Set("state", string(o.State))
	}
	var out WorkPage
	_, _, err := c.do(ctx, call{method: "GET", path: "/v1/recoveries", query: q, safe: true}, &out)
	return &out, err
}

func pageQuery(after string, limit int) url.Values {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}
