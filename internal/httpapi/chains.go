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
		if err != nil {
			writeProblem(c, err)
			return
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
