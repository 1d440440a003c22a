package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/jsonw"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/mulegate/mulegate/internal/telemetry"
)

type lookuper interface {
	LookupKey(ctx context.Context, k report.IBANKey) (report.Counts, error)
	LookupKeys(ctx context.Context, keys []report.IBANKey) ([]report.Counts, error)
}

type reportAccepter interface {
	Accept(ctx context.Context, org string, orgType report.OrgType, idempotencyKey string, s report.Submission) (report.Accepted, error)
}

type reportReader interface {
	ReportStatus(ctx context.Context, id string) (report.ReportStatus, error)
}

// jsonContentType is what gin's c.JSON sends.
const jsonContentType = "application/json; charset=utf-8"

// viewFor is the caller's view.
func viewFor(views map[report.OrgType]View, c *gin.Context) View {
	return views[principal(c).Org.Type]
}

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// withTimeout bounds the store work of one request, so that a hung Redis
// becomes a fast 503 instead of a hung client.
func withTimeout(c *gin.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), d)
}

// sharedDeadline bounds lookups and rate charges like withTimeout, more
// cheaply: the ones that start within the same 10 ms share one context,
// whose deadline is the timeout after the first of them plus those 10 ms,
// so a request makes no context, timer or cancel registration of its own.
// Its wait is then also not cut short when its client goes away (it is a
// millisecond of work). With tracing on, each request gets its own
// context: the context carries the request's span.
type sharedDeadline struct {
	timeout time.Duration
	cur     atomic.Pointer[deadlineWindow]
}

type deadlineWindow struct {
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc // never called: the context expires by itself
}

const deadlineWindowLen = 10 * time.Millisecond

func noCancel() {}

func (s *sharedDeadline) context(c *gin.Context) (context.Context, context.CancelFunc) {
	if telemetry.Active() {
		return withTimeout(c, s.timeout)
	}
	now := time.Now()
	if w := s.cur.Load(); w != nil && now.Sub(w.start) < deadlineWindowLen {
		return w.ctx, noCancel
	}
	w := &deadlineWindow{start: now}
	w.ctx, w.cancel = context.WithDeadline(context.Background(), now.Add(s.timeout+deadlineWindowLen))
	s.cur.Store(w)
	return w.ctx, noCancel
}

// ibanParam parses the {iban} path parameter and puts its masked form in
// the access log.
func ibanParam(c *gin.Context) (iban.IBAN, report.IBANKey, error) {
	return stateOf(c).ibanParam(c)
}

func (st *reqState) ibanParam(c *gin.Context) (iban.IBAN, report.IBANKey, error) {
	i, err := report.ParseIBAN(c.Param("iban"))
	if err != nil {
		return i, report.IBANKey{}, err
	}
	st.iban = i.Masked()
	return i, st.auditIBANs(i)[0], nil
}

func handleLookup(s lookuper, risk report.RiskPolicy, views map[report.OrgType]View, timeout time.Duration) gin.HandlerFunc {
	deadline := &sharedDeadline{timeout: timeout}
	return func(c *gin.Context) {
		st := stateOf(c)
		i, key, err := st.ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := deadline.context(c)
		defer cancel()
		counts, err := s.LookupKey(ctx, key)
		if err != nil {
			writeProblem(c, err)
			return
		}
		view := views[st.principal.Org.Type]
		l := report.NewLookup(i, view.counts(counts), risk)
		st.risks = []string{string(l.Risk)}
		buf := lookupBufs.Get().(*[]byte)
		*buf = view.appendLookup((*buf)[:0], l)
		c.Data(http.StatusOK, jsonContentType, *buf) // a Write never keeps its slice: the buffer is free again after it
		if cap(*buf) <= 4<<10 {
			lookupBufs.Put(buf)
		}
	}
}

// lookupBufs hold single lookups' answers while they are written (about
// 700 bytes each, one allocation a request less).
var lookupBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

type batchRequest struct {
	IBANs *[]string `json:"ibans"`
}

type batchError struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

type batchInvalid struct {
	IBAN  string     `json:"iban"`
	Error batchError `json:"error"`
}

func handleBatchLookup(s lookuper, risk report.RiskPolicy, views map[report.OrgType]View, rd rateDeps, maxBatch int, bodyLimit int64, timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req batchRequest
		if err := decode(c, bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		if req.IBANs == nil {
			writeProblem(c, report.Invalid("ibans", "ibans is required"))
			return
		}
		raw := *req.IBANs
		if len(raw) == 0 || len(raw) > maxBatch {
			writeProblem(c, report.Invalid("ibans", "ibans must hold between 1 and "+itoa(int64(maxBatch))+" entries"))
			return
		}
		if !charge(c, rd, report.RateLookups, len(raw)) { // one lookup token per IBAN
			return
		}
		key := auditKeyOf(c)
		view := viewFor(views, c)
		ctx, cancel := withTimeout(c, timeout)
		defer cancel()
		// A large batch is served in parts on all cores: each part parses,
		// pseudonymises, reads (one pipeline) and renders its own IBANs.
		parts := make([]batchPart, min(runtime.GOMAXPROCS(0), (len(raw)+batchPartMin-1)/batchPartMin))
		each := (len(raw) + len(parts) - 1) / len(parts)
		var wg sync.WaitGroup
		for j := range parts {
			ibans := raw[min(len(raw), j*each):min(len(raw), (j+1)*each)]
			if j == len(parts)-1 {
				parts[j].run(ctx, s, key, view, risk, ibans) // this goroutine takes the last part
				break
			}
			wg.Go(func() { parts[j].run(ctx, s, key, view, risk, ibans) })
		}
		wg.Wait()
		body := append(make([]byte, 0, 64+900*len(raw)), `{"results":[`...)
		var keys []report.IBANKey
		var risks []string
		for j, p := range parts {
			if p.err != nil {
				writeProblem(c, p.err)
				return
			}
			if j > 0 && len(p.body) > 0 {
				body = append(body, ',')
			}
			body = append(body, p.body...)
			keys, risks = append(keys, p.keys...), append(risks, p.risks...)
		}
		st := stateOf(c)
		st.keys, st.keysSet, st.risks = keys, true, risks
		c.Data(http.StatusOK, jsonContentType, append(body, ']', '}'))
	}
}

// batchPartMin is the fewest IBANs a part of a batch is given: below
// that, a goroutine costs more than it saves.
const batchPartMin = 250

// batchPart is one part of a batch lookup: the IBANs' answers as JSON
// array elements (comma-separated), the keys of the valid ones and their
// risks, in order.
type batchPart struct {
	body  []byte
	keys  []report.IBANKey
	risks []string
	err   error
}

func (p *batchPart) run(ctx context.Context, s lookuper, key keyOf, view View, risk report.RiskPolicy, raw []string) {
	invalid := make([][]byte, len(raw))
	valid := make([]iban.IBAN, 0, len(raw))
	for n, r := range raw {
		i, err := report.ParseIBAN(r)
		if err != nil {
			_, code, detail := problemFor(err)
			invalid[n], _ = json.Marshal(batchInvalid{IBAN: r, Error: batchError{Code: code, Detail: detail}})
			continue
		}
		valid = append(valid, i)
	}
	p.keys = make([]report.IBANKey, len(valid))
	for n, i := range valid {
		p.keys[n] = key(i)
	}
	counts, err := s.LookupKeys(ctx, p.keys)
	if err != nil {
		p.err = err
		return
	}
	p.risks = make([]string, len(valid))
	p.body = make([]byte, 0, 900*len(raw))
	k := 0
	for n := range raw {
		if n > 0 {
			p.body = append(p.body, ',')
		}
		if invalid[n] != nil {
			p.body = append(p.body, invalid[n]...)
			continue
		}
		l := report.NewLookup(valid[k], view.counts(counts[k]), risk)
		p.risks[k] = string(l.Risk)
		p.body = view.appendLookup(p.body, l)
		k++
	}
}

type reportRequest struct {
	IBAN        *string        `json:"iban"`
	Category    *string        `json:"category"`
	OccurredAt  *string        `json:"occurred_at"`
	Amount      *report.Amount `json:"amount"`
	Reference   *string        `json:"reference"`
	Description *string        `json:"description"`
}

func (r reportRequest) submission(now time.Time, skew time.Duration) (report.Submission, error) {
	at, err := optionalTime("occurred_at", r.OccurredAt)
	if err != nil {
		return report.Submission{}, err
	}
	return report.NewSubmission(deref(r.IBAN), deref(r.Category), at, r.Amount, deref(r.Reference), deref(r.Description), now, skew)
}

// optionalTime parses an optional RFC 3339 field.
func optionalTime(field string, v *string) (*time.Time, error) {
	if v == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return nil, report.Invalid(field, field+" must be an RFC 3339 date-time such as 2026-11-27T14:03:00Z")
	}
	return &t, nil
}

// idempotencyKey reads the Idempotency-Key header: at most once, 1–255
// visible ASCII characters. "" when it is absent and not required.
func idempotencyKey(c *gin.Context, required bool) (string, error) {
	key, present, err := singleHeader(c, "Idempotency-Key")
	switch {
	case err != nil:
		return "", err
	case !present && required:
		return "", newAPIError(http.StatusBadRequest, "idempotency_key_required", "the Idempotency-Key header is required (1-255 visible ASCII characters)")
	case present && !validIdempotencyKey(key):
		return "", report.Invalid("Idempotency-Key", "Idempotency-Key must be 1-255 visible ASCII characters")
	}
	return key, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// validIdempotencyKey: 1–255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

type acceptedJSON struct {
	ReportID    string `json:"report_id"`
	Status      string `json:"status"`
	IBAN        string `json:"iban"`
	ReportCount int64  `json:"report_count"`
}

// append writes the answer as encoding/json would, without reflection.
func (a acceptedJSON) append(b []byte) []byte {
	b = jsonw.AppendString(append(b, `{"report_id":`...), a.ReportID)
	b = jsonw.AppendString(append(b, `,"status":`...), a.Status)
	b = jsonw.AppendString(append(b, `,"iban":`...), a.IBAN)
	return append(strconv.AppendInt(append(b, `,"report_count":`...), a.ReportCount, 10), '}')
}

func handleSubmitReport(s reportAccepter, bodyLimit int64, skew, timeout time.Duration, now func() time.Time) gin.HandlerFunc {
	return func(c *gin.Context) {
		key, err := idempotencyKey(c, true)
		if err != nil {
			writeProblem(c, err)
			return
		}
		var req reportRequest
		if err := decode(c, bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		sub, err := req.submission(now(), skew)
		if err != nil {
			writeProblem(c, err)
			return
		}
		stateOf(c).iban = sub.IBAN.Masked()
		auditIBANs(c, sub.IBAN)
		p := principal(c)
		ctx, cancel := withTimeout(c, timeout)
		defer cancel()
		a, err := s.Accept(ctx, p.Org.ID, p.Org.Type, key, sub)
		if err != nil {
			writeProblem(c, err)
			return
		}
		c.Header("Location", "/v1/reports/"+a.ID)
		if a.Replayed {
			c.Header("Idempotent-Replayed", "true")
		}
		c.Data(http.StatusAccepted, jsonContentType, acceptedJSON{ReportID: a.ID, Status: string(report.StatusQueued),
			IBAN: a.IBAN.String(), ReportCount: a.ReportCount}.append(make([]byte, 0, 128)))
	}
}

type statusJSON struct {
	ReportID        string     `json:"report_id"`
	Status          string     `json:"status"`
	Attempts        int64      `json:"attempts"`
	ReceivedAt      string     `json:"received_at"`
	ForwardedAt     *string    `json:"forwarded_at"`
	PoliceReference *string    `json:"police_reference"`
	LastError       *string    `json:"last_error"`
	Review          reviewJSON `json:"review"`
	IBAN            string     `json:"iban,omitempty"`
	Category        string     `json:"category,omitempty"`
	ReporterOrg     string     `json:"reporter_org,omitempty"`
}

type reviewJSON struct {
	State          string  `json:"state"`
	HolderOrg      string  `json:"holder_org,omitempty"`
	RespondBy      *string `json:"respond_by,omitempty"`
	AcknowledgedAt *string `json:"acknowledged_at,omitempty"`
	ClosedAt       *string `json:"closed_at,omitempty"`
	Result         string  `json:"result,omitempty"`
	FraudType      string  `json:"fraud_type,omitempty"`
	CancelledAt    *string `json:"cancelled_at,omitempty"`
	Overdue        bool    `json:"overdue"`
}

// renderStatus shows a report to one of its parties: the holder also sees
// the IBAN, the category and the reporting org (it must find the account
// and judge the report); the reporter and the police see the rest.
func renderStatus(st report.ReportStatus, p report.Parties, now time.Time) statusJSON {
	out := statusJSON{ReportID: st.ID, Status: string(st.Status), Attempts: st.Attempts,
		ReceivedAt: st.ReceivedAt.Format(time.RFC3339Nano)}
	out.ForwardedAt = timePtr(ptrTime(st.ForwardedAt))
	out.PoliceReference = strPtr(st.PoliceReference)
	out.LastError = strPtr(st.LastError)
	r := st.Review
	out.Review = reviewJSON{State: string(r.State), HolderOrg: r.Holder, RespondBy: timePtr(r.RespondBy),
		AcknowledgedAt: timePtr(r.AcknowledgedAt), ClosedAt: timePtr(r.ClosedAt), CancelledAt: timePtr(r.CancelledAt),
		Result: string(r.Result), FraudType: string(r.FraudType), Overdue: r.Overdue(now)}
	if p.Holder {
		out.IBAN, out.Category, out.ReporterOrg = st.IBAN, string(st.Category), st.ReporterOrg
	}
	return out
}

func handleReportStatus(now func() time.Time) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := *stateOf(c).report // read by reportParty
		c.JSON(http.StatusOK, renderStatus(st, st.PartiesOf(caller(c)), now()))
	}
}

// reportParty guards every /v1/reports/{id} route, after the rate limit:
// an unknown report, or one the caller is no party of, is 404 whatever
// the caller's scopes (existence is not revealed); only then does a
// missing scope give 403. The report as read is kept for the handler.
func reportParty(s reportReader, want auth.Scope, timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := withTimeout(c, timeout)
		defer cancel()
		st, err := s.ReportStatus(ctx, c.Param("id"))
		if err != nil {
			writeProblem(c, err)
			return
		}
		if !st.PartiesOf(caller(c)).Any() {
			writeProblem(c, &report.Error{Code: report.CodeNotFound, Msg: "no such report"})
			return
		}
		stateOf(c).report = &st
		requireScope(want)(c)
	}
}

// caller is the principal as the domain sees it.
func caller(c *gin.Context) report.Caller {
	p := principal(c)
	return report.Caller{Org: p.Org.ID, Type: p.Org.Type}
}

func ptrTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type lookupsReader interface {
	Lookups(ctx context.Context, i iban.IBAN) ([]report.OrgLookups, error)
}

type orgLookupsJSON struct {
	Org     string `json:"org"`
	OrgType string `json:"org_type"`
	Lookups int64  `json:"lookups"`
	FirstAt string `json:"first_at"`
	LastAt  string `json:"last_at"`
}

// handleLookupsOf serves GET /v1/ibans/{iban}/lookups (police,
// audit:read): who looked this IBAN up, by org, over the retention. It
// may lag a second behind (lookups are counted in batches).
func handleLookupsOf(s lookupsReader, timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, timeout)
		defer cancel()
		orgs, err := s.Lookups(ctx, i)
		if err != nil {
			writeProblem(c, err)
			return
		}
		out := make([]orgLookupsJSON, len(orgs))
		for n, o := range orgs {
			out[n] = orgLookupsJSON{Org: o.Org, OrgType: string(o.OrgType), Lookups: o.Lookups,
				FirstAt: o.First.Format(time.RFC3339Nano), LastAt: o.Last.Format(time.RFC3339Nano)}
		}
		c.JSON(http.StatusOK, gin.H{"orgs": out})
	}
}
