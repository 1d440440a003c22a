package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// Lookups: one IBAN, a batch, and who looked an IBAN up.

type lookuper interface {
	LookupKey(ctx context.Context, k domain.IBANKey) (domain.Counts, error)
	LookupKeysInto(ctx context.Context, keys []domain.IBANKey, out []domain.Counts) error
}

// viewFor is the caller's view.
func viewFor(views map[domain.OrgType]View, c *gin.Context) View {
	return views[principal(c).Org.Type]
}

// ibanParam parses the {iban} path parameter and puts its masked form in
// the access log.
func ibanParam(c *gin.Context) (iban.IBAN, domain.IBANKey, error) {
	return stateOf(c).ibanParam(c)
}

func (st *reqState) ibanParam(c *gin.Context) (iban.IBAN, domain.IBANKey, error) {
	i, err := domain.ParseIBAN(c.Param("iban"))
	if err != nil {
		return i, domain.IBANKey{}, err
	}
	st.iban = i
	return i, st.auditIBANs(i)[0], nil
}

// lookupDeps are what the lookup handlers need.
type lookupDeps struct {
	store     IBANs
	risk      domain.RiskPolicy
	views     map[domain.OrgType]View
	rate      rateDeps
	maxBatch  int
	bodyLimit int64
	timeout   time.Duration
}

func handleLookup(d lookupDeps) gin.HandlerFunc {
	s, risk, views := d.store, d.risk, d.views
	deadline := &sharedDeadline{timeout: d.timeout}
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
		l := domain.NewLookup(i, view.counts(counts), risk)
		st.risks = room(&st.oneRisk, 1)
		st.risks[0] = string(l.Risk)
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

// decodeBatch reads a batch lookup's body: a plain list of IBANs by
// fastIBANList, anything else as decode reads every body.
func decodeBatch(c *gin.Context, limit int64) (batchRequest, error) {
	body, err := readJSONBody(c, limit)
	if err != nil {
		return batchRequest{}, err
	}
	return decodeBatchJSON(body)
}

// decodeBatchJSON is decodeBatch without the HTTP parts.
func decodeBatchJSON(body []byte) (batchRequest, error) {
	if list, ok := fastIBANList(body); ok {
		return batchRequest{IBANs: &list}, nil
	}
	var req batchRequest
	err := decodeJSON(body, &req)
	return req, err
}

type batchError struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

type batchInvalid struct {
	IBAN  string     `json:"iban"`
	Error batchError `json:"error"`
}

func handleBatchLookup(d lookupDeps) gin.HandlerFunc {
	s, risk, views, rd, maxBatch, bodyLimit, timeout := d.store, d.risk, d.views, d.rate, d.maxBatch, d.bodyLimit, d.timeout
	return func(c *gin.Context) {
		req, err := decodeBatch(c, bodyLimit)
		if err != nil {
			writeProblem(c, err)
			return
		}
		if req.IBANs == nil {
			writeProblem(c, domain.Invalid("ibans", "ibans is required"))
			return
		}
		raw := *req.IBANs
		if len(raw) == 0 || len(raw) > maxBatch {
			writeProblem(c, domain.Invalid("ibans", "ibans must hold between 1 and "+itoa(int64(maxBatch))+" entries"))
			return
		}
		if !charge(c, rd, domain.RateLookups, len(raw)) { // one lookup token per IBAN
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
		defer func() {
			for _, p := range parts {
				putPartBody(p.body)
			}
		}()
		var keys []domain.IBANKey
		var risks []string
		for _, p := range parts {
			if p.err != nil {
				writeProblem(c, p.err)
				return
			}
			keys, risks = append(keys, p.keys...), append(risks, p.risks...)
		}
		st := stateOf(c)
		st.keys, st.keysSet, st.risks = keys, true, risks
		// The answer goes out part by part, not copied into one buffer
		// first (0.7 MB for 1000 IBANs): the audit record is committed
		// before the first byte as for any answer.
		writeBatchAnswer(c, parts)
	}
}

// writeBatchAnswer writes the parts' answers as one {"results":[…]}. Its
// length is known, so it goes out whole, not in HTTP/1.1 chunks.
func writeBatchAnswer(c *gin.Context, parts []batchPart) {
	pieces := make([][]byte, 0, 2*len(parts)+1)
	pieces = append(pieces, []byte(`{"results":[`))
	for j, p := range parts {
		if j > 0 && len(p.body) > 0 {
			pieces = append(pieces, []byte(","))
		}
		pieces = append(pieces, p.body)
	}
	pieces = append(pieces, []byte("]}"))
	n := 0
	for _, b := range pieces {
		n += len(b)
	}
	c.Header("Content-Type", jsonContentType)
	c.Header("Content-Length", strconv.Itoa(n))
	c.Status(http.StatusOK)
	for _, b := range pieces {
		_, _ = c.Writer.Write(b)
	}
}

// partBodies keeps the buffers a batch's parts render into (about 900
// bytes an IBAN: a batch of 1000 rendered into fresh buffers allocated
// and zeroed 0.9 MB each time). A part's body goes back once the answer
// is written.
var partBodies sync.Pool

func getPartBody(n int) []byte {
	if b, ok := partBodies.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]byte, 0, n)
}

func putPartBody(b []byte) {
	if b != nil && cap(b) <= 4<<20 {
		partBodies.Put(&b)
	}
}

// partCounts keeps a part's counts between batches (a Counts is about
// 400 bytes: 0.4 MB allocated and zeroed for a batch of 1000 before).
var partCounts sync.Pool

func getPartCounts(n int) []domain.Counts {
	if c, ok := partCounts.Get().(*[]domain.Counts); ok && cap(*c) >= n {
		return (*c)[:n]
	}
	return make([]domain.Counts, n)
}

// batchPartMin is the fewest IBANs a part of a batch is given: below
// that, a goroutine costs more than it saves.
const batchPartMin = 250

// batchPart is one part of a batch lookup: the IBANs' answers as JSON
// array elements (comma-separated), the keys of the valid ones and their
// risks, in order.
type batchPart struct {
	body  []byte
	keys  []domain.IBANKey
	risks []string
	err   error
}

func (p *batchPart) run(ctx context.Context, s lookuper, key keyOf, view View, risk domain.RiskPolicy, raw []string) {
	invalid := make([][]byte, len(raw))
	valid := make([]iban.IBAN, 0, len(raw))
	for n, r := range raw {
		i, err := domain.ParseIBAN(r)
		if err != nil {
			_, code, detail := problemFor(err)
			invalid[n], _ = json.Marshal(batchInvalid{IBAN: r, Error: batchError{Code: code, Detail: detail}})
			continue
		}
		valid = append(valid, i)
	}
	p.keys = make([]domain.IBANKey, len(valid))
	for n, i := range valid {
		p.keys[n] = key(i)
	}
	counts := getPartCounts(len(p.keys))
	defer partCounts.Put(&counts)
	if err := s.LookupKeysInto(ctx, p.keys, counts); err != nil {
		p.err = err
		return
	}
	p.risks = make([]string, len(valid))
	p.body = getPartBody(900 * len(raw))
	k := 0
	for n := range raw {
		if n > 0 {
			p.body = append(p.body, ',')
		}
		if invalid[n] != nil {
			p.body = append(p.body, invalid[n]...)
			continue
		}
		l := domain.NewLookup(valid[k], view.counts(counts[k]), risk)
		p.risks[k] = string(l.Risk)
		p.body = view.appendLookup(p.body, l)
		k++
	}
}

type lookupsReader interface {
	Lookups(ctx context.Context, i iban.IBAN) ([]domain.OrgLookups, error)
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
func handleLookupsOf(d lookupDeps) gin.HandlerFunc {
	s, timeout := d.store, d.timeout
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
