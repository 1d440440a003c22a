package httpapi

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// TestAppendLookupMatchesEncodingJSON holds the hand-written lookup body
// to what encoding/json writes for the same answer, byte for byte, for
// every view, over random lookups (with and without a marker, reasons,
// times, odd category names).
func TestAppendLookupMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	views := []View{NewView(nil), NewView([]string{"by_source", "marker.by_type", "cleared.reason"}), NewView([]string{"stats", "risk_reasons", "watermark", "iban"}),
		NewView([]string{"marker"})}
	r := rand.New(rand.NewPCG(1, 2))
	ib, err := iban.Parse("NL91ABNA0417164300")
	if err != nil {
		t.Fatal(err)
	}
	for n := range 2000 {
		l := randomLookup(r, ib)
		for vn, v := range views {
			want, err := json.Marshal(v.renderReflect(l))
			if err != nil {
				t.Fatal(err)
			}
			got := v.appendLookup(nil, l)
			if len(v.omit) == 0 {
				if string(got) != string(want) {
					t.Fatalf("lookup %d, view %d:\n got %s\nwant %s", n, vn, got, want)
				}
				continue
			}
			// The reflective path for a view sorted the members; the
			// hand-written one keeps the struct's order: same JSON value.
			var g, w map[string]any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("lookup %d, view %d: %v in %s", n, vn, err, got)
			}
			_ = json.Unmarshal(want, &w)
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("lookup %d, view %d:\n got %s\nwant %s", n, vn, got, want)
			}
		}
	}
}

func randomLookup(r *rand.Rand, ib iban.IBAN) domain.Lookup {
	t := func() time.Time {
		if r.IntN(4) == 0 {
			return time.Time{}
		}
		return time.UnixMilli(1_700_000_000_000 + r.Int64N(1e11)).UTC()
	}
	names := []string{"phishing", "marketplace", "helpdesk_fraud", "a<b>&c", "quote\"d", "ünï"}
	counts := func() map[string]int64 {
		m := map[string]int64{}
		for range r.IntN(4) {
			m[names[r.IntN(len(names))]] = r.Int64N(1000)
		}
		return m
	}
	c := domain.Counts{ReportCount: r.Int64N(100), ReporterCount: r.Int64N(10), Last30Days: r.Int64N(50),
		ByCategory: tallyOf(counts()), BySource: tallyOf(counts()), First: t(), Last: t(), Cancelled: r.Int64N(3), Watermark: t(),
		Review: domain.ReviewCounts{Open: r.Int64N(5), Confirmed: r.Int64N(2), Disputed: r.Int64N(2)}}
	currencies := []string{"EUR", "JPY", "BHD", "GBP"}
	for w, d := range domain.WindowDays {
		c.Windows[w] = domain.Window{Days: d, Reports: r.Int64N(40), Reporters: r.Int64N(5)}
		for range r.IntN(3) {
			cur := currencies[r.IntN(len(currencies))]
			digits, _ := domain.MinorDigits(cur)
			a, _ := domain.NewAmount(domain.Amount{Currency: cur, Value: strconv.Itoa(1+r.IntN(1e6)) + "." + strings.Repeat("5", digits)}, "amount")
			if digits == 0 {
				a, _ = domain.NewAmount(domain.Amount{Currency: cur, Value: strconv.Itoa(1 + r.IntN(1e6))}, "amount")
			}
			c.Amounts[w].Add(a)
			if r.IntN(2) == 0 {
				c.Recovered.Add(a)
			}
		}
	}
	if r.IntN(3) == 0 {
		by := []domain.OrgType{domain.OrgPolice, domain.OrgBank, ""}[r.IntN(3)]
		c.Marker = &domain.Marker{FraudType: domain.FraudType("mule_account"), ByType: by, RegisteredAt: time.UnixMilli(1_700_000_000_123).UTC()}
	}
	if r.IntN(2) == 0 {
		c.LinkedReports, c.MinHop, c.ConfirmedUpstream = 1+r.Int64N(5), 1+r.IntN(5), r.IntN(2) == 0
	}
	if r.IntN(3) == 0 {
		c.HolderStatus = &domain.HolderStatus{Status: domain.HolderStatusKinds[r.IntN(3)], Since: t()}
	}
	if r.IntN(3) == 0 {
		c.Cleared, c.ClearedCount = &domain.Clear{At: time.UnixMilli(1_700_000_000_456).UTC(), Reason: domain.ClearError}, r.Int64N(9)
	}
	l := domain.Lookup{IBAN: ib, Counts: c, Risk: domain.Risk([]string{"none", "low", "medium", "high"}[r.IntN(4)]), Score: r.IntN(101)}
	switch r.IntN(3) {
	case 0:
	case 1:
		l.Reasons = []string{}
	default:
		l.Reasons = []string{"marker", "count>=" + strconv.Itoa(r.IntN(9)), fmt.Sprint("reporters>=", r.IntN(5))}
	}
	return l
}

// The encoding/json rendering the hand-written one replaced: the oracle.

// lookupJSON is the answer for one IBAN.
type lookupJSON struct {
	IBAN            string                       `json:"iban"`
	Country         string                       `json:"country"`
	BankCode        string                       `json:"bank_code"`
	ReportCount     int64                        `json:"report_count"`
	ReporterCount   int64                        `json:"reporter_count"`
	Last30Days      int64                        `json:"reports_last_30_days"`
	ByCategory      map[string]int64             `json:"by_category"`
	BySource        map[string]int64             `json:"by_source"`
	FirstReportedAt *string                      `json:"first_reported_at"`
	LastReportedAt  *string                      `json:"last_reported_at"`
	Risk            domain.Risk                  `json:"risk"`
	Review          reviewCountsJSON             `json:"review"`
	CancelledCount  int64                        `json:"cancelled_count"`
	Stats           map[string]statJSON          `json:"stats"`
	Amounts         map[string]map[string]string `json:"amounts"`
	Recovered       map[string]string            `json:"recovered"`
	Chain           chainCountsJSON              `json:"chain"`
	Marker          *markerJSON                  `json:"marker"`
	HolderStatus    *holderStatusJSON            `json:"holder_status,omitempty"`
	Cleared         *clearedJSON                 `json:"cleared,omitempty"`
	ClearedCount    int64                        `json:"cleared_count"`
	Score           int                          `json:"score"`
	RiskReasons     []string                     `json:"risk_reasons"`
	Watermark       *string                      `json:"watermark"`
}

type holderStatusJSON struct {
	Status string `json:"status"`
	Since  string `json:"since"`
}

type clearedJSON struct {
	At     string `json:"at"`
	Reason string `json:"reason,omitempty"`
}

type chainCountsJSON struct {
	LinkedReports     int64 `json:"linked_reports"`
	MinHop            *int  `json:"min_hop"`
	ConfirmedUpstream bool  `json:"confirmed_upstream"`
}

type reviewCountsJSON struct {
	Open      int64 `json:"open"`
	Confirmed int64 `json:"confirmed"`
	Disputed  int64 `json:"disputed"`
}

type statJSON struct {
	Reports   int64 `json:"reports"`
	Reporters int64 `json:"reporters"`
}

type markerJSON struct {
	FraudType    string `json:"fraud_type"`
	ByType       string `json:"by_type,omitempty"`
	RegisteredAt string `json:"registered_at"`
}

// render is the lookup as this view shows it: the struct itself when
// nothing is left out (the common, cheap case), else its fields without
// the omitted ones.
func (v View) renderReflect(l domain.Lookup) any {
	out := renderLookup(l)
	if v.markerByType && out.Marker != nil {
		out.Marker.ByType = ""
	}
	if v.clearReason && out.Cleared != nil {
		out.Cleared.Reason = ""
	}
	if len(v.omit) == 0 {
		return out
	}
	b, err := json.Marshal(out)
	if err != nil {
		return out
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return out
	}
	for _, f := range v.omit {
		delete(fields, f)
	}
	return fields
}

func renderLookup(l domain.Lookup) lookupJSON {
	out := lookupJSON{
		IBAN: l.IBAN.String(), Country: l.IBAN.Country(), BankCode: l.IBAN.BankCode(),
		ReportCount: l.ReportCount, ReporterCount: l.ReporterCount, Last30Days: l.Last30Days,
		ByCategory: l.ByCategory.Map(), BySource: l.BySource.Map(), Risk: l.Risk,
		Review:         reviewCountsJSON{Open: l.Review.Open, Confirmed: l.Review.Confirmed, Disputed: l.Review.Disputed},
		CancelledCount: l.Cancelled, Stats: make(map[string]statJSON, len(l.Windows)), RiskReasons: l.Reasons,
	}
	out.FirstReportedAt = timePtr(l.First)
	out.LastReportedAt = timePtr(l.Last)
	out.Watermark = timePtr(l.Watermark)
	for _, w := range l.Windows {
		out.Stats["d"+strconv.Itoa(w.Days)] = statJSON{Reports: w.Reports, Reporters: w.Reporters}
	}
	sums := func(s domain.Sums) map[string]string {
		m := map[string]string{}
		for _, c := range s {
			m[c.Currency] = c.Value()
		}
		return m
	}
	out.Amounts = map[string]map[string]string{}
	for w, d := range domain.WindowDays {
		out.Amounts["d"+strconv.Itoa(d)] = sums(l.Amounts[w])
	}
	out.Recovered = sums(l.Recovered)
	out.Chain.LinkedReports, out.Chain.ConfirmedUpstream = l.LinkedReports, l.ConfirmedUpstream
	if l.MinHop > 0 {
		h := l.MinHop
		out.Chain.MinHop = &h
	}
	if m := l.Marker; m != nil {
		out.Marker = &markerJSON{FraudType: string(m.FraudType), ByType: string(m.ByType), RegisteredAt: m.RegisteredAt.Format(time.RFC3339Nano)}
	}
	if h := l.HolderStatus; h != nil {
		out.HolderStatus = &holderStatusJSON{Status: string(h.Status), Since: h.Since.Format(time.RFC3339Nano)}
	}
	if c := l.Cleared; c != nil {
		out.Cleared = &clearedJSON{At: c.At.Format(time.RFC3339Nano), Reason: string(c.Reason)}
	}
	out.ClearedCount, out.Score = l.ClearedCount, l.Score
	return out
}

// TestAppendAcceptedMatchesEncodingJSON: the 202 body written by hand is
// encoding/json's bytes.
func TestAppendAcceptedMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, a := range []acceptedJSON{
		{ReportID: "3f2a9c0e5b1d4e7f8a6b2c1d0e9f8a7b", Status: "queued", IBAN: "NL91ABNA0417164300", ReportCount: 1},
		{ReportID: `"<&>` + "\u2028\xff", Status: "", IBAN: "DE89370400440532013000", ReportCount: -9223372036854775808},
	} {
		want, _ := json.Marshal(a)
		if got := a.append(nil); string(got) != string(want) {
			t.Errorf("got %s\nwant %s", got, want)
		}
	}
}

// tallyOf is a domain.Tally of a map's counts.
func tallyOf(m map[string]int64) domain.Tally {
	var t domain.Tally
	for k, n := range m {
		t.Add(k, n)
	}
	return t
}
