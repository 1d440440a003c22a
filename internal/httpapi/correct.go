package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// Correcting the record (SPEC Part 3): the holding bank's status of an
// account and the police's clear.

// correctStore is what the correction routes need of the store.
type correctStore interface {
	SetHolderStatus(ctx context.Context, i iban.IBAN, h domain.HolderStatus) error
	DeleteHolderStatus(ctx context.Context, i iban.IBAN) error
	ClearIBAN(ctx context.Context, i iban.IBAN, c domain.Clear, previous domain.Risk, holder string) (int64, error)
	WithdrawClear(ctx context.Context, i iban.IBAN) (domain.Clear, error)
	Lookup(ctx context.Context, i iban.IBAN) (domain.Counts, error)
}

// correctDeps are what the correction handlers need.
type correctDeps struct {
	store     correctStore
	router    alertRouter // who holds the IBAN now
	risk      domain.RiskPolicy
	bodyLimit int64
	timeout   time.Duration
	now       func() time.Time
}

type statusRequest struct {
	Status  *string `json:"status"`
	Details *string `json:"details"`
}

type holderStatusAnswerJSON struct {
	IBAN    string `json:"iban"`
	Status  string `json:"status"`
	Since   string `json:"since"`
	Details string `json:"details,omitempty"`
}

// holderOnly is the 403 for a bank that does not hold the IBAN (the
// police and marketplaces lack the scope).
func holderOnly(d correctDeps, c *gin.Context, i iban.IBAN) bool {
	if d.router.Holder(i) != caller(c).Org {
		writeProblem(c, &domain.Error{Code: domain.CodeForbidden, Msg: "only the bank that holds the IBAN may set its status"})
		return false
	}
	return true
}

// handlePutStatus serves PUT /v1/ibans/{iban}/status: the holding bank's
// word on its account; 200 with it.
func handlePutStatus(d correctDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if !holderOnly(d, c, i) {
			return
		}
		var req statusRequest
		if err := decode(c, d.bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		h, err := domain.NewHolderStatus(req.Status, req.Details, d.now())
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		if err := d.store.SetHolderStatus(ctx, i, h); err != nil {
			writeProblem(c, err)
			return
		}
		c.JSON(http.StatusOK, holderStatusAnswerJSON{IBAN: i.String(), Status: string(h.Status),
			Since: h.Since.Format(time.RFC3339Nano), Details: h.Details})
	}
}

// handleDeleteStatus serves DELETE /v1/ibans/{iban}/status: 204.
func handleDeleteStatus(d correctDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if !holderOnly(d, c, i) {
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		if err := d.store.DeleteHolderStatus(ctx, i); err != nil {
			writeProblem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

type clearRequest struct {
	Reason  *string `json:"reason"`
	Details *string `json:"details"`
}

type clearAnswerJSON struct {
	IBAN           string `json:"iban"`
	ClearedAt      string `json:"cleared_at"`
	Reason         string `json:"reason"`
	ReportsCleared int64  `json:"reports_cleared"`
}

// handleClear serves POST /v1/ibans/{iban}/clear (the police): every
// report accepted before it stops counting, the marker is lifted, and
// those who acted on the old answer are told (iban.corrected); 200.
func handleClear(d correctDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		var req clearRequest
		if err := decode(c, d.bodyLimit, &req); err != nil {
			writeProblem(c, err)
			return
		}
		cl, err := domain.NewClear(req.Reason, req.Details, caller(c).Org, d.now())
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		before, err := d.store.Lookup(ctx, i)
		if err != nil {
			writeProblem(c, err)
			return
		}
		n, err := d.store.ClearIBAN(ctx, i, cl, domain.NewLookup(i, before, d.risk).Risk, d.router.Holder(i))
		if err != nil {
			writeProblem(c, err)
			return
		}
		c.JSON(http.StatusOK, clearAnswerJSON{IBAN: i.String(), ClearedAt: cl.At.Format(time.RFC3339Nano), Reason: string(cl.Reason),
			ReportsCleared: n})
	}
}

// handleWithdrawClear serves DELETE /v1/ibans/{iban}/clear (the police):
// a clear made in error is withdrawn, its reports count again and the
// orgs it corrected hear of it; 204 (404 without a clear, 409 for a
// clear with another reason).
func handleWithdrawClear(d correctDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		if _, err := d.store.WithdrawClear(ctx, i); err != nil {
			writeProblem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// recordStore reads an IBAN's access record.
type recordStore interface {
	AccessRecord(ctx context.Context, i iban.IBAN) (domain.AccessRecord, error)
}

type recordReportJSON struct {
	ReportID     string         `json:"report_id"`
	Category     string         `json:"category"`
	AcceptedAt   string         `json:"accepted_at"`
	ReporterType string         `json:"reporter_type"`
	ReporterOrg  string         `json:"reporter_org,omitempty"`
	Amount       *domain.Amount `json:"amount,omitempty"`
	Hop          int            `json:"hop"`
	Review       reviewJSON     `json:"review"`
	Recovery     *recoveryJSON  `json:"recovery,omitempty"`
	Counted      bool           `json:"counted"`
}

type recordMarkerJSON struct {
	FraudType    string `json:"fraud_type"`
	ByType       string `json:"by_type,omitempty"`
	RegisteredAt string `json:"registered_at"`
}

type recordStatusJSON struct {
	Status  string `json:"status"`
	Since   string `json:"since"`
	Details string `json:"details,omitempty"`
}

type recordClearJSON struct {
	At      string `json:"at"`
	Reason  string `json:"reason"`
	Details string `json:"details,omitempty"`
}

type recordLookupsJSON struct {
	OrgType string `json:"org_type"`
	Org     string `json:"org,omitempty"`
	Month   string `json:"month"`
	Count   int64  `json:"count"`
}

type recordJSON struct {
	IBAN         string              `json:"iban"`
	Reports      []recordReportJSON  `json:"reports"`
	Marker       *recordMarkerJSON   `json:"marker,omitempty"`
	HolderStatus *recordStatusJSON   `json:"holder_status,omitempty"`
	Cleared      *recordClearJSON    `json:"cleared,omitempty"`
	Lookups      []recordLookupsJSON `json:"lookups"`
}

// handleRecord serves GET /v1/ibans/{iban}/record: everything the gateway
// holds about an IBAN, for its holder's access request (SPEC Part 3,
// precise point 10). The holding bank (ibans:status) gets reporter types,
// lookups by bank and marketplace per type and month, and no marker
// by_type nor clear details (the customer must not learn of an
// investigation from it); the police (audit:read) get everything, orgs
// included. Anyone else: 403.
func handleRecord(d correctDeps, rs recordStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		i, _, err := ibanParam(c)
		if err != nil {
			writeProblem(c, err)
			return
		}
		p := principal(c)
		police := p.Org.Type == domain.OrgPolice && p.Scopes.Has(auth.ScopeAuditRead)
		holder := p.Org.Type == domain.OrgBank && p.Scopes.Has(auth.ScopeIBANsStatus) && d.router.Holder(i) == p.Org.ID
		if !police && !holder {
			writeProblem(c, &domain.Error{Code: domain.CodeForbidden, Msg: "the access record is for the bank that holds the IBAN (ibans:status) and the police (audit:read)"})
			return
		}
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		rec, err := rs.AccessRecord(ctx, i)
		if err != nil {
			writeProblem(c, err)
			return
		}
		c.JSON(http.StatusOK, renderRecord(i, rec, police, d.now()))
	}
}

func renderRecord(i iban.IBAN, rec domain.AccessRecord, police bool, now time.Time) recordJSON {
	out := recordJSON{IBAN: i.String(), Reports: []recordReportJSON{}, Lookups: []recordLookupsJSON{}}
	for _, r := range rec.Reports {
		st := renderStatus(r.ReportStatus, domain.Parties{}, now)
		rr := recordReportJSON{ReportID: r.ID, Category: string(r.Category), AcceptedAt: r.ReceivedAt.Format(time.RFC3339Nano),
			ReporterType: string(r.ReporterType), Amount: r.Amount.OrNil(), Review: st.Review, Recovery: st.Recovery, Counted: r.Counted}
		if r.Chain != nil {
			rr.Hop = r.Chain.Hop
		}
		if police {
			rr.ReporterOrg = r.ReporterOrg
		}
		out.Reports = append(out.Reports, rr)
	}
	if m := rec.Marker; m != nil {
		out.Marker = &recordMarkerJSON{FraudType: string(m.FraudType), RegisteredAt: m.RegisteredAt.Format(time.RFC3339Nano)}
		if police {
			out.Marker.ByType = string(m.ByType)
		}
	}
	if h := rec.HolderStatus; h != nil {
		out.HolderStatus = &recordStatusJSON{Status: string(h.Status), Since: h.Since.Format(time.RFC3339Nano), Details: h.Details}
	}
	if cl := rec.Cleared; cl != nil {
		out.Cleared = &recordClearJSON{At: cl.At.Format(time.RFC3339Nano), Reason: string(cl.Reason)}
		if police {
			out.Cleared.Details = cl.Details
		}
	}
	for _, l := range rec.Lookups {
		if l.OrgType == domain.OrgPolice && !police {
			continue
		}
		lj := recordLookupsJSON{OrgType: string(l.OrgType), Month: l.Month, Count: l.Count}
		if police {
			lj.Org = l.Org
		}
		out.Lookups = append(out.Lookups, lj)
	}
	if !police {
		out.Lookups = mergeByTypeAndMonth(out.Lookups)
	}
	return out
}

// mergeByTypeAndMonth sums a bank's lookups per org type and month (it
// does not see which org looked).
func mergeByTypeAndMonth(in []recordLookupsJSON) []recordLookupsJSON {
	out := []recordLookupsJSON{}
	for _, l := range in {
		merged := false
		for n := range out {
			if out[n].OrgType == l.OrgType && out[n].Month == l.Month {
				out[n].Count += l.Count
				merged = true
			}
		}
		if !merged {
			out = append(out, l)
		}
	}
	return out
}
