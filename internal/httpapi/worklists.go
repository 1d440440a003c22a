package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
)

// Work lists (SPEC Part 3, precise point 12): GET /v1/reviews, a
// holder's reports awaiting its answer, and GET /v1/recoveries, a bank's
// unfinished recoveries as holder or as requester; earliest deadline
// first, cursor-paged. The console's inbox and a bank's reconciliation
// after an outage read them.

type workLister interface {
	WorkList(ctx context.Context, list domain.WorkList, org string, after domain.WorkCursor, limit int, dueBefore time.Time) ([]domain.WorkItem, error)
}

type workDeps struct {
	lists   workLister
	reports reportReader
	rate    rateDeps
	timeout time.Duration
	now     func() time.Time
}

// workQuery is a work list request, validated.
type workQuery struct {
	list    domain.WorkList
	state   string // "" all
	overdue string // "", "true", "false" (reviews)
	after   domain.WorkCursor
	limit   int
}

func reviewsQuery(c *gin.Context) (workQuery, error) {
	q := workQuery{list: domain.ReviewsDue, state: c.Query("state"), overdue: c.Query("overdue")}
	if q.state != "" && q.state != string(domain.ReviewOpen) && q.state != string(domain.ReviewAcknowledged) {
		return q, domain.Invalid("state", "state must be open or acknowledged")
	}
	if q.overdue != "" && q.overdue != "true" && q.overdue != "false" {
		return q, domain.Invalid("overdue", "overdue must be true or false")
	}
	err := q.page(c)
	return q, err
}

func recoveriesQuery(c *gin.Context) (workQuery, error) {
	q := workQuery{state: c.Query("state")}
	switch c.Query("role") {
	case "holder":
		q.list = domain.RecoveriesHeld
	case "requester":
		q.list = domain.RecoveriesAsked
	default:
		return q, domain.Invalid("role", "role must be holder or requester")
	}
	if q.state != "" && q.state != string(domain.RecoveryRequested) && q.state != string(domain.RecoveryHeld) {
		return q, domain.Invalid("state", "state must be requested or held (the lists hold unfinished recoveries)")
	}
	err := q.page(c)
	return q, err
}

// page reads after and limit (1-1000, default 100).
func (q *workQuery) page(c *gin.Context) error {
	var err error
	if q.after, err = domain.ParseWorkCursor(c.Query("after")); err != nil {
		return err
	}
	q.limit = 100
	if v := c.Query("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 1000 {
			return domain.Invalid("limit", "limit must be an integer from 1 to 1000")
		}
		q.limit = n
	}
	return nil
}

// keeps says whether a report read for the list belongs on it now (the
// lists are kept by the holders' relay, so an entry can lag a change by
// a moment; the report as read decides).
func (q workQuery) keeps(st domain.ReportStatus, org string, now time.Time) bool {
	switch q.list {
	case domain.ReviewsDue:
		r := st.Review
		open := r.State == domain.ReviewOpen || r.State == domain.ReviewAcknowledged
		overdue := r.Overdue(now)
		return r.Holder == org && open && st.Cleared == nil && (q.state == "" || string(r.State) == q.state) &&
			(q.overdue == "" || (q.overdue == "true") == overdue)
	default:
		rc := st.Recovery
		if rc == nil || (rc.State != domain.RecoveryRequested && rc.State != domain.RecoveryHeld) {
			return false
		}
		mine := st.Review.Holder == org
		if q.list == domain.RecoveriesAsked {
			mine = rc.RequestedBy == org
		}
		return mine && (q.state == "" || string(rc.State) == q.state)
	}
}

func handleWorkList(d workDeps, parse func(*gin.Context) (workQuery, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		q, err := parse(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if !chargePage(c, d.rate, q.limit) {
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		org, now := caller(c).Org, d.now()
		var before time.Time
		if q.overdue == "true" {
			before = now
		}
		items, err := d.lists.WorkList(ctx, q.list, org, q.after, q.limit, before)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ids := make([]string, len(items))
		for n, it := range items {
			ids[n] = it.ReportID
		}
		reports, err := d.reports.ReportStatuses(ctx, ids) // one gone past retention is nil
		if err != nil {
			writeProblem(c, err)
			return
		}
		out := workPage{Reports: []statusJSON{}, NextCursor: q.after.String()}
		for n, st := range reports {
			out.NextCursor = domain.CursorOf(items[n]).String()
			if st != nil && q.keeps(*st, org, now) {
				out.Reports = append(out.Reports, renderStatus(*st, st.PartiesOf(caller(c)), now))
			}
		}
		c.JSON(http.StatusOK, out)
	}
}

type workPage struct {
	Reports    []statusJSON `json:"reports"`
	NextCursor string       `json:"next_cursor"`
}
