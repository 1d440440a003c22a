package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// Following the money (SPEC Part 3, modelled on MED 2.0): the holder of a
// report says where the money went on; each transfer becomes a linked
// report about the onward IBAN.

type onwarder interface {
	Onward(ctx context.Context, c domain.Caller, key string, source domain.ReportStatus, ts []domain.Transfer, link domain.ChainLink) (
		[]domain.Accepted, error)
	HolderOf(i iban.IBAN) string
}

// chainDeps are what the chain handlers need.
type chainDeps struct {
	store     onwarder
	rate      rateDeps
	policy    domain.ChainPolicy
	bodyLimit int64
	skew      time.Duration
	timeout   time.Duration
	now       func() time.Time
}

type onwardBody struct {
	Transfers *[]domain.RawTransfer `json:"transfers"`
}

type linkedJSON struct {
	ReportID  string `json:"report_id"`
	IBAN      string `json:"iban"`
	Hop       int    `json:"hop"`
	HolderOrg string `json:"holder_org,omitempty"`
	Status    string `json:"status"`
}

// handleOnward serves POST /v1/reports/{id}/onward: the holder only
// (403), then the Idempotency-Key and the body (400, 422 for an invalid
// IBAN naming the entry), then the linked reports, 201 in input order;
// the same key and body again answer the same, with nothing new.
func handleOnward(d chainDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := *stateOf(c).report // read by reportParty
		who := caller(c)
		if !st.PartiesOf(who).Holder {
			writeProblem(c, &domain.Error{Code: domain.CodeForbidden, Msg: "only the bank that holds the account may report where the money went"})
			return
		}
		key, err := idempotencyKey(c, true)
		if err != nil {
			writeProblem(c, err)
			return
		}
		var b onwardBody
		if err := decode(c, d.bodyLimit, &b); err != nil {
			writeProblem(c, err)
			return
		}
		if b.Transfers == nil {
			writeProblem(c, domain.Invalid("transfers", "transfers is required"))
			return
		}
		own, _ := iban.Parse(st.IBAN)
		ts, err := domain.NewTransfers(*b.Transfers, own, d.now(), d.skew, d.policy)
		if err != nil {
			writeProblem(c, err)
			return
		}
		root, hop := "", 0
		if st.Chain != nil {
			root, hop = st.Chain.RootID, st.Chain.Hop
		}
		link, err := domain.Link(st.ID, root, hop, d.policy)
		if err == nil {
			err = st.RefuseCleared()
		}
		if err != nil {
			writeProblem(c, err)
			return
		}
		// Each transfer is a report: the route charged one write, the
		// others are charged now that their number is known (like a
		// batch lookup's IBANs), before anything is written.
		if len(ts) > 1 && !chargeRest(c, d.rate, domain.RateWrites, len(ts)-1, len(ts)) {
			return
		}
		link.RootReporter = st.ReporterOrg
		if st.Chain != nil {
			link.RootReporter = st.Chain.RootReporter
		}
		ibans := make([]iban.IBAN, len(ts))
		for n, t := range ts {
			ibans[n] = t.IBAN
		}
		auditIBANs(c, ibans...)
		ctx, cancel := withTimeout(c, d.timeout)
		defer cancel()
		acc, err := d.store.Onward(ctx, who, key, st, ts, link)
		if err != nil {
			writeProblem(c, err)
			return
		}
		out := make([]linkedJSON, len(acc))
		replayed := true
		for n, a := range acc {
			out[n] = linkedJSON{ReportID: a.ID, IBAN: a.IBAN.String(), Hop: link.Hop, HolderOrg: d.store.HolderOf(a.IBAN),
				Status: string(domain.StatusQueued)}
			replayed = replayed && a.Replayed
		}
		if replayed {
			c.Header("Idempotent-Replayed", "true")
		}
		c.JSON(http.StatusCreated, gin.H{"reports": out})
	}
}

type chainReader interface {
	Chain(ctx context.Context, st domain.ReportStatus) (root string, reports []domain.ReportStatus, err error)
}

type chainEntryJSON struct {
	ReportID       string         `json:"report_id"`
	SourceReportID string         `json:"source_report_id,omitempty"`
	Hop            int            `json:"hop"`
	IBAN           string         `json:"iban,omitempty"`
	Country        string         `json:"country,omitempty"`
	HolderOrg      string         `json:"holder_org,omitempty"`
	ReporterOrg    string         `json:"reporter_org,omitempty"`
	Amount         *domain.Amount `json:"amount,omitempty"`
	Review         struct {
		State  string `json:"state"`
		Result string `json:"result,omitempty"`
	} `json:"review"`
	Recovery *chainRecoveryJSON `json:"recovery,omitempty"`
}

type chainRecoveryJSON struct {
	State     string         `json:"state"`
	Requested *domain.Amount `json:"requested,omitempty"`
	Held      *domain.Amount `json:"held,omitempty"`
	Returned  *domain.Amount `json:"returned,omitempty"`
}

// handleChain serves GET /v1/reports/{id}/chain (scope chains:read): the
// whole chain from its root, breadth-first, at most 1000 reports. The
// police see every report whole; a bank (a party of the report it asks
// through) sees the reports it neither filed nor holds without their
// IBAN and orgs, only their country.
func handleChain(store chainReader, rd rateDeps, timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := *stateOf(c).report // read by reportParty
		ctx, cancel := withTimeout(c, timeout)
		defer cancel()
		root, reports, err := store.Chain(ctx, st)
		if err != nil {
			writeProblem(c, err)
			return
		}
		// Its size is known only once read: like a page, one lookup per
		// 100 reports shown (the route charged one). A refused view wastes
		// one read, and the next request is refused before reading.
		if !chargePage(c, rd, len(reports)) {
			return
		}
		who := caller(c)
		out := make([]chainEntryJSON, len(reports))
		for n, r := range reports {
			out[n] = chainEntry(r, who)
		}
		c.JSON(http.StatusOK, gin.H{"root_report_id": root, "reports": out})
	}
}

func chainEntry(r domain.ReportStatus, who domain.Caller) chainEntryJSON {
	e := chainEntryJSON{ReportID: r.ID}
	if r.Chain != nil {
		e.SourceReportID, e.Hop = r.Chain.SourceID, r.Chain.Hop
	}
	p := r.PartiesOf(who)
	if p.Police || p.Reporter || p.Holder {
		e.IBAN, e.HolderOrg, e.ReporterOrg = r.IBAN, r.Review.Holder, r.ReporterOrg
	} else if len(r.IBAN) >= 2 {
		e.Country = r.IBAN[:2]
	}
	e.Amount = r.Amount.OrNil()
	e.Review.State, e.Review.Result = string(r.Review.State), string(r.Review.Result)
	if rc := r.Recovery; rc != nil {
		e.Recovery = &chainRecoveryJSON{State: string(rc.State), Requested: rc.Requested.OrNil(), Held: rc.Held.OrNil(), Returned: rc.Returned.OrNil()}
	}
	return e
}
