package console

import (
	"bytes"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/client"
)

// purposes are the X-Purpose values a search asks for.
var purposes = []string{client.PurposePaymentCheck, client.PurposeOnboarding, client.PurposeInvestigation,
	client.PurposeMonitoring, client.PurposeOther}

// maxSearch is the most IBANs one search takes (the API's batch limit).
const maxSearch = 1000

func (s *Server) home(w http.ResponseWriter, r *http.Request, q *request) {
	org, err := s.whoami(q.ctx)
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	if org.OrgType == client.OrgBank {
		http.Redirect(w, r, "/inbox", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/search", http.StatusSeeOther)
}

type searchView struct {
	Purposes []string
	Purpose  string
	Text     string
	One      *client.Lookup // a search of one IBAN
	Many     []searchRow    // a search of several
	Invalid  int            // entries the gateway could not read
	Looked   []client.OrgLookups
	Record   *client.AccessRecord
	Subject  string // the IBAN the Looked or Record view is about
	Police   bool
	Bank     bool
}

type searchRow struct {
	IBAN   string
	Lookup *client.Lookup
	Error  string
}

func (s *Server) searchView(r *http.Request) searchView {
	v := searchView{Purposes: purposes, Purpose: client.PurposePaymentCheck}
	if org, err := s.whoami(r.Context()); err == nil {
		v.Police, v.Bank = org.OrgType == client.OrgPolice, org.OrgType == client.OrgBank
		if v.Police {
			v.Purpose = client.PurposeInvestigation
		}
	}
	return v
}

func (s *Server) searchPage(w http.ResponseWriter, r *http.Request, q *request) {
	s.render(w, r, q.sess, http.StatusOK, "search", "IBAN search", s.searchView(r))
}

// splitIBANs reads a pasted list: one per line, or separated by commas
// or semicolons (an IBAN may hold spaces).
var listSep = regexp.MustCompile(`[\n\r,;\t]+`)

func splitIBANs(text string) []string {
	var out []string
	for _, part := range listSep.Split(text, -1) {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// search looks up one IBAN or a pasted list, for the purpose the user
// chose (the IBANs stay in the POST body: never in a URL).
func (s *Server) search(w http.ResponseWriter, r *http.Request, q *request) {
	v := s.searchView(r)
	v.Text, v.Purpose = r.PostFormValue("ibans"), r.PostFormValue("purpose")
	if !slices.Contains(purposes, v.Purpose) {
		s.renderSearchProblem(w, r, q, v, "Choose why you look (the purpose is recorded with every lookup).")
		return
	}
	ibans := splitIBANs(v.Text)
	switch {
	case len(ibans) == 0:
		s.renderSearchProblem(w, r, q, v, "Paste one IBAN, or a list of up to 1000, one per line.")
		return
	case len(ibans) > maxSearch:
		s.renderSearchProblem(w, r, q, v, "At most 1000 IBANs in one search.")
		return
	}
	ctx := client.WithPurpose(q.ctx, v.Purpose)
	if len(ibans) == 1 {
		l, err := s.opt.Client.Lookup(ctx, ibans[0])
		if err != nil {
			if client.Code(err) == client.CodeInvalidIBAN {
				s.renderSearchProblem(w, r, q, v, problemDetail(err))
				return
			}
			s.apiError(w, r, q.sess, err)
			return
		}
		v.One = l
		s.render(w, r, q.sess, http.StatusOK, "search", "IBAN search", v)
		return
	}
	res, err := s.opt.Client.LookupMany(ctx, ibans)
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	for n, x := range res {
		row := searchRow{IBAN: ibans[n], Lookup: x.Lookup}
		if x.Error != nil {
			row.Error, v.Invalid = x.Error.Error.Detail, v.Invalid+1
		} else {
			row.IBAN = x.Lookup.IBAN
		}
		v.Many = append(v.Many, row)
	}
	// The riskiest first: that is what the analyst pasted the list for.
	rank := map[client.Risk]int{client.RiskHigh: 0, client.RiskMedium: 1, client.RiskLow: 2, client.RiskNone: 3}
	slices.SortStableFunc(v.Many, func(a, b searchRow) int {
		ra, rb := 4, 4
		if a.Lookup != nil {
			ra = rank[a.Lookup.Risk]
		}
		if b.Lookup != nil {
			rb = rank[b.Lookup.Risk]
		}
		return ra - rb
	})
	s.render(w, r, q.sess, http.StatusOK, "search", "IBAN search", v)
}

func (s *Server) renderSearchProblem(w http.ResponseWriter, r *http.Request, q *request, v searchView, msg string) {
	s.sess.setFlash(q.sess, msg)
	s.render(w, r, q.sess, http.StatusUnprocessableEntity, "search", "IBAN search", v)
}

func problemDetail(err error) string {
	var e *client.Error
	if errors.As(err, &e) && e.Problem.Detail != "" {
		return e.Problem.Detail
	}
	return err.Error()
}

// ibanAction is a police or holder action about one IBAN, from the
// search page: the IBAN is in the form, never in the URL. Reading who
// looked it up and its access record are reads (allowed read-only).
func (s *Server) ibanAction(w http.ResponseWriter, r *http.Request, q *request) {
	action, iban := r.PathValue("action"), strings.TrimSpace(r.PostFormValue("iban"))
	v := s.searchView(r)
	v.Purpose = r.PostFormValue("purpose")
	if !slices.Contains(purposes, v.Purpose) {
		v.Purpose = client.PurposeInvestigation
	}
	ctx := client.WithPurpose(q.ctx, v.Purpose)
	reads := action == "lookups" || action == "record"
	if q.user.ReadOnly && !reads {
		s.fail(w, r, q.sess, http.StatusForbidden, "You can see but not act (a read-only user).")
		return
	}
	var err error
	var done string
	switch action {
	case "lookups":
		v.Looked, err = s.opt.Client.LookupsOf(ctx, iban)
		v.Subject = iban
	case "record":
		v.Record, err = s.opt.Client.AccessRecord(ctx, iban)
		v.Subject = iban
	case "mark":
		_, err = s.opt.Client.PutMarker(ctx, iban, client.FraudType(r.PostFormValue("fraud_type")), r.PostFormValue("details"))
		done = "Marked."
	case "unmark":
		err = s.opt.Client.DeleteMarker(ctx, iban)
		done = "Marker lifted."
	case "clear":
		var c *client.Clear
		c, err = s.opt.Client.ClearIBAN(ctx, iban, client.ClearReason(r.PostFormValue("reason")), r.PostFormValue("details"))
		if err == nil {
			done = "Cleared: " + itoa(c.ReportsCleared) + " reports no longer count; everyone who acted on them is told."
		}
	case "unclear":
		err = s.opt.Client.WithdrawClear(ctx, iban)
		done = "The clear is withdrawn."
	case "status":
		if st := r.PostFormValue("status"); st == "" {
			err = s.opt.Client.DeleteHolderStatus(ctx, iban)
			done = "The account's status is removed."
		} else {
			_, err = s.opt.Client.SetHolderStatus(ctx, iban, client.AccountStatus(st), r.PostFormValue("details"))
			done = "The account's status is set."
		}
	default:
		s.fail(w, r, q.sess, http.StatusNotFound, "No such action.")
		return
	}
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	if !reads {
		// Show the IBAN as it is now, in this answer (a redirect would
		// have to put the IBAN in a URL).
		v.One, err = s.opt.Client.Lookup(ctx, iban)
		if err != nil {
			s.apiError(w, r, q.sess, err)
			return
		}
		s.sess.setFlash(q.sess, done)
	}
	s.render(w, r, q.sess, http.StatusOK, "search", "IBAN search", v)
}

type inboxView struct {
	Overdue, Due   []client.ReportStatus
	More           bool
	Next, Overflow string // cursors of the next pages
}

// inboxPage is how many reports each part of the inbox shows at once.
const inboxPage = 100

// inbox is the holder's reports awaiting an answer: the overdue ones
// first (GET /v1/reviews?overdue=true), then the rest, earliest due
// first, a page at a time.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request, q *request) {
	var v inboxView
	after := r.URL.Query().Get("after")
	if r.URL.Query().Get("part") != "due" {
		od, err := s.opt.Client.Reviews(q.ctx, client.ReviewOptions{Overdue: client.Ptr(true), After: after, Limit: inboxPage})
		if err != nil {
			s.apiError(w, r, q.sess, err)
			return
		}
		v.Overdue = od.Reports
		if len(od.Reports) == inboxPage {
			v.Overflow = od.NextCursor
		}
		after = ""
	}
	if v.Overflow == "" {
		due, err := s.opt.Client.Reviews(q.ctx, client.ReviewOptions{Overdue: client.Ptr(false), After: after, Limit: inboxPage})
		if err != nil {
			s.apiError(w, r, q.sess, err)
			return
		}
		v.Due = due.Reports
		if len(due.Reports) == inboxPage {
			v.Next = due.NextCursor
		}
	}
	s.render(w, r, q.sess, http.StatusOK, "inbox", "Inbox", v)
}

type recoveriesView struct {
	Owed, Asked []client.ReportStatus
}

func (s *Server) recoveries(w http.ResponseWriter, r *http.Request, q *request) {
	var v recoveriesView
	owed, err := s.opt.Client.Recoveries(q.ctx, client.RoleHolder, client.RecoveryOptions{Limit: 200})
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	asked, err := s.opt.Client.Recoveries(q.ctx, client.RoleRequester, client.RecoveryOptions{Limit: 200})
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	v.Owed, v.Asked = owed.Reports, asked.Reports
	s.render(w, r, q.sess, http.StatusOK, "recoveries", "Recoveries", v)
}

type reportView struct {
	Report   *client.ReportStatus
	Chain    *chainNode
	Org      string
	Holder   bool // the console's org holds the report's IBAN
	Reporter bool
	Police   bool
	Rejects  []client.RejectReason
	Fraud    []client.FraudType
}

// chainNode is a chain's report with the reports its money went on to.
type chainNode struct {
	client.ChainReport
	Current bool
	Next    []*chainNode
}

// tree draws a chain from its root: each report under its source.
func tree(ch *client.Chain, current string) *chainNode {
	nodes := map[string]*chainNode{}
	for _, r := range ch.Reports {
		nodes[r.ReportID] = &chainNode{ChainReport: r, Current: r.ReportID == current}
	}
	var root *chainNode
	for _, r := range ch.Reports {
		n := nodes[r.ReportID]
		if src, ok := nodes[r.SourceReportID]; ok && r.SourceReportID != "" {
			src.Next = append(src.Next, n)
		} else if root == nil {
			root = n
		}
	}
	return root
}

// fillFromChain gives a report's page the IBAN and reporter that the
// report's own answer shows its holder only, where the caller's chain view
// shows them (the police always; a bank in reports it reported or holds):
// an officer opening a report sees whose account it is about. Nothing is
// shown that the API did not show this org.
func fillFromChain(st *client.ReportStatus, ch *client.Chain) {
	for _, r := range ch.Reports {
		if r.ReportID != st.ReportID {
			continue
		}
		if st.IBAN == "" {
			st.IBAN = r.IBAN
		}
		if st.ReporterOrg == "" {
			st.ReporterOrg = r.ReporterOrg
		}
		return
	}
}

// openReport opens a report by the id typed in the form (GET: a report
// id is no IBAN).
func (s *Server) openReport(w http.ResponseWriter, r *http.Request, q *request) {
	id := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("id")))
	if !validID(id) {
		s.fail(w, r, q.sess, http.StatusBadRequest, "A report id is 32 hexadecimal characters.")
		return
	}
	http.Redirect(w, r, "/reports/"+id, http.StatusSeeOther)
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func validID(id string) bool { return idPattern.MatchString(id) }

func (s *Server) report(w http.ResponseWriter, r *http.Request, q *request) {
	id := r.PathValue("id")
	if !validID(id) {
		s.fail(w, r, q.sess, http.StatusNotFound, "No such report.")
		return
	}
	st, err := s.opt.Client.Report(q.ctx, id)
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	org, err := s.whoami(q.ctx)
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	v := reportView{Report: st, Org: org.Org, Holder: st.Review.HolderOrg == org.Org, Police: org.OrgType == client.OrgPolice,
		Rejects: []client.RejectReason{client.RejectNoBalance, client.RejectAccountClosed, client.RejectNotFraud, client.RejectFundsMoved, client.RejectOther},
		Fraud:   []client.FraudType{client.FraudMuleAccount, client.FraudScammerAccount, client.FraudAccountTakeover, client.FraudOther}}
	v.Reporter = !v.Holder && !v.Police
	if ch, err := s.opt.Client.Chain(q.ctx, id); err == nil {
		fillFromChain(st, ch)
		if len(ch.Reports) > 1 {
			v.Chain = tree(ch, id)
		}
	}
	s.render(w, r, q.sess, http.StatusOK, "report", "Report "+id[:8], v)
}

// reportAction is acknowledge, close or cancel.
func (s *Server) reportAction(w http.ResponseWriter, r *http.Request, q *request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if !validID(id) {
		s.fail(w, r, q.sess, http.StatusNotFound, "No such report.")
		return
	}
	var err error
	var done string
	switch action {
	case "acknowledge":
		_, err = s.opt.Client.AcknowledgeReport(q.ctx, id)
		done = "Acknowledged."
	case "close":
		req := client.CloseRequest{Result: client.ReviewResult(r.PostFormValue("result")), Details: r.PostFormValue("details")}
		if req.Result == client.ResultAgreed {
			req.FraudType = client.FraudType(r.PostFormValue("fraud_type"))
		}
		_, err = s.opt.Client.CloseReport(q.ctx, id, req)
		done = "Closed " + string(req.Result) + "."
	case "cancel":
		_, err = s.opt.Client.CancelReport(q.ctx, id, client.CancelRequest{Reason: r.PostFormValue("reason")})
		done = "Cancelled."
	default:
		s.fail(w, r, q.sess, http.StatusNotFound, "No such action.")
		return
	}
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	to := "/reports/" + id
	if r.PostFormValue("back") == "inbox" {
		to = "/inbox"
	}
	s.redirect(w, r, q.sess, to, done)
}

// recoveryAction is a recovery step.
func (s *Server) recoveryAction(w http.ResponseWriter, r *http.Request, q *request) {
	id, step := r.PathValue("id"), r.PathValue("step")
	if !validID(id) {
		s.fail(w, r, q.sess, http.StatusNotFound, "No such report.")
		return
	}
	amt := client.Amount{Value: strings.TrimSpace(r.PostFormValue("amount")), Currency: strings.TrimSpace(r.PostFormValue("currency"))}
	if amt.Currency == "" {
		amt.Currency = "EUR"
	}
	var err error
	var done string
	switch step {
	case "request":
		req := client.RecoveryRequest{Amount: amt, Details: r.PostFormValue("details"), ReturnTo: strings.TrimSpace(r.PostFormValue("return_to"))}
		if e2e := strings.TrimSpace(r.PostFormValue("end_to_end_id")); e2e != "" {
			req.Payment = &client.Payment{EndToEndID: e2e}
		}
		_, err = s.opt.Client.RequestRecovery(q.ctx, id, req)
		done = "Recovery requested."
	case "hold":
		var rec *client.Recovery
		if rec, err = s.opt.Client.HoldRecovery(q.ctx, id, amt); err == nil {
			done = "Held " + rec.Held.Value + " " + rec.Held.Currency + "."
		}
	case "return":
		var rec *client.Recovery
		if rec, err = s.opt.Client.ReturnRecovery(q.ctx, id, client.RecoveryReturn{Amount: amt, Reference: r.PostFormValue("reference")}); err == nil {
			done = "Returned " + rec.Returned.Value + " " + rec.Returned.Currency + "."
		}
	case "reject":
		_, err = s.opt.Client.RejectRecovery(q.ctx, id, client.RecoveryReject{Reason: client.RejectReason(r.PostFormValue("reason")), Details: r.PostFormValue("details")})
		done = "Rejected."
	case "release":
		_, err = s.opt.Client.ReleaseRecovery(q.ctx, id)
		done = "Released."
	default:
		s.fail(w, r, q.sess, http.StatusNotFound, "No such step.")
		return
	}
	if err != nil {
		s.apiError(w, r, q.sess, err)
		return
	}
	s.redirect(w, r, q.sess, "/reports/"+id, done)
}

type eventsView struct {
	Rows []eventRow
	Next string // cursor of the next page
	Live bool
}

// eventRow is one feed event as a person reads it.
type eventRow struct {
	At       time.Time
	Type     client.EventType
	ReportID string
	IBAN     string
	Text     string
}

func describe(e client.Event) eventRow {
	row := eventRow{At: e.CreatedAt, Type: e.Type}
	p, err := e.Payload()
	if err != nil || p == nil {
		return row
	}
	switch p := p.(type) {
	case *client.ReportReceived:
		row.ReportID, row.IBAN = p.ReportID, p.IBAN
		row.Text = string(p.Category) + " reported by " + p.ReporterOrg
		if !p.Amount.IsZero() {
			row.Text += ", " + p.Amount.Value + " " + p.Amount.Currency
		}
		if p.Description != "" {
			row.Text += ": " + p.Description
		}
	case *client.ReportCancelled:
		row.ReportID, row.IBAN, row.Text = p.ReportID, p.IBAN, "withdrawn by its reporter "+p.Reason
	case *client.Alert:
		row.IBAN, row.Text = p.IBAN, string(p.Severity)+": "+p.Message+" ("+p.Reference+")"
	case *client.IBANThreshold:
		row.IBAN, row.Text = p.IBAN, itoa(int64(p.ReporterCount))+" reporters in "+p.Window
	case *client.MarkerChange:
		row.IBAN, row.Text = p.IBAN, string(p.FraudType)
	case *client.ReportReviewed:
		row.ReportID, row.IBAN, row.Text = p.ReportID, p.IBAN, string(p.Result)+" "+string(p.FraudType)
	case *client.RecoveryEvent:
		row.ReportID, row.IBAN, row.Text = p.ReportID, p.IBAN, strings.TrimSpace(p.Amount.Value+" "+p.Amount.Currency+" "+p.Reason)
	case *client.IBANCorrected:
		row.IBAN, row.Text = p.IBAN, "cleared by the police ("+string(p.Reason)+"); the risk was "+string(p.PreviousRisk)
	}
	return row
}

// events shows a page of the feed, oldest first (from the start, or
// after a cursor); on its last page, with JavaScript, new events arrive
// live (eventStream).
func (s *Server) events(w http.ResponseWriter, r *http.Request, q *request) {
	after := r.URL.Query().Get("after")
	var v eventsView
	n := 0
	for it, err := range s.opt.Client.Events(q.ctx, client.FeedOptions{After: after, Limit: 100}) {
		if err != nil {
			s.apiError(w, r, q.sess, err)
			return
		}
		v.Rows = append(v.Rows, describe(it.Item))
		v.Next = it.Cursor
		if n++; n == 100 {
			break
		}
	}
	if n < 100 { // the end of the feed: what comes next arrives live
		v.Next, v.Live = "", true
	}
	s.render(w, r, q.sess, http.StatusOK, "events", "Event feed", v)
}

// eventStream relays the org's new events to the page as Server-Sent
// Events, each a rendered table row (htmx's sse extension adds it).
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request, q *request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(": connected\n\n"))
	if rc.Flush() != nil {
		return
	}
	_ = rc.SetWriteDeadline(time.Time{})
	t := s.pages["events"]
	for it, err := range s.opt.Client.EventStream(q.ctx, "") {
		if err != nil {
			return
		}
		var b bytes.Buffer
		if t.ExecuteTemplate(&b, "event-row", describe(it.Item)) != nil {
			return
		}
		var out bytes.Buffer
		out.WriteString("event: event\n")
		for line := range strings.SplitSeq(strings.TrimSpace(b.String()), "\n") {
			out.WriteString("data: " + line + "\n")
		}
		out.WriteString("\n")
		if _, err := w.Write(out.Bytes()); err != nil || rc.Flush() != nil {
			return
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
