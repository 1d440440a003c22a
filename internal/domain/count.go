package domain

import "time"

// The counting rules of a lookup: which reports count, in which windows,
// by how many reporters, in which review bucket. The store reads an
// IBAN's reports and hands them to a Counter one at a time.

// Periods are the retention cutoff and the statistics windows' starts
// (never before the cutoff) at one moment, in ms: computed once for a
// batch of lookups.
type Periods struct {
	Cutoff int64
	Starts [len(WindowDays)]int64
	// Now (ms) and HalfLifeDays (risk.half_life_days; 0: the default)
	// decay the score.
	Now          int64
	HalfLifeDays float64
}

// PeriodsAt are the periods at now for a retention.
func PeriodsAt(now time.Time, retention time.Duration) Periods {
	p := Periods{Cutoff: now.Add(-retention).UnixMilli(), Now: now.UnixMilli()}
	for w, d := range WindowDays {
		p.Starts[w] = max(p.Cutoff, now.Add(-time.Duration(d)*24*time.Hour).UnixMilli())
	}
	return p
}

// Counted is what the rules read of one report.
type Counted struct {
	Received int64 // ms
	Org      string
	Category string
	Source   string
	Review   ReviewState
	Result   Result
	// Amount is the report's amount, Recovered what its recovery
	// returned (zero: none).
	Amount, Recovered Amount
	Hop               int  // a linked report's hop (0: made directly)
	Upstream          bool // its source confirms it
}

// Counter builds one IBAN's counts.
type Counter struct {
	p           Periods
	c           Counts
	first, last int64
	// A window's reporters are the orgs whose newest counted report falls
	// in it; the reporters overall are the orgs with any. An IBAN has a
	// few orgs: an array in the counter holds the first eight (no
	// pointer into the counter itself, so a counter stays on the stack),
	// more the rest.
	orgs  [8]orgNewest
	nOrgs int
	more  []orgNewest
	clear *Clear
	// by_category and by_source, kept here while counting: Counts gives
	// them one allocation between them (two growing slices before).
	cats, srcs tallyBuf
}

// tallyBuf is a Tally built in place: the first four names in an array
// (a lookup has one or two of each), all of them in a Tally past that.
// add inserts by hand rather than through Tally.Add on a slice of the
// array: a slice into the counter makes the counter escape to the heap
// (go build -gcflags=-m: "moved to heap: k" in store.countBook).
type tallyBuf struct {
	a    [4]NameCount
	n    int
	over Tally // non-nil once a fifth name came
}

func (b *tallyBuf) add(name string) {
	if b.over == nil {
		i := 0
		for i < b.n && b.a[i].Name < name {
			i++
		}
		if i < b.n && b.a[i].Name == name {
			b.a[i].N++
			return
		}
		if b.n < len(b.a) {
			copy(b.a[i+1:b.n+1], b.a[i:b.n])
			b.a[i] = NameCount{Name: name, N: 1}
			b.n++
			return
		}
		b.over = append(make(Tally, 0, 2*len(b.a)), b.a[:]...)
	}
	b.over.Add(name, 1)
}

// names is the tally so far (in b's array: copy it before b goes).
func (b *tallyBuf) names() Tally {
	if b.over != nil {
		return b.over
	}
	return b.a[:b.n]
}

// Cleared tells the counter the IBAN's clear (nil: none) before any Add:
// the reports it covers count only in ClearedCount.
func (k *Counter) Cleared(c *Clear) { k.clear = c }

// Counter starts counting for the periods.
func (p Periods) Counter() Counter { return Counter{p: p} }

// Add counts one report: one received before the cutoff counts for
// nothing, a cancelled one only as cancelled.
func (k *Counter) Add(r Counted) {
	if r.Received < k.p.Cutoff {
		return
	}
	if r.Review == ReviewCancelled {
		k.c.Cancelled++
		return
	}
	if k.clear.Covers(r.Received) {
		k.c.ClearedCount++
		return
	}
	k.c.ReportCount++
	k.c.ScoreSum += ScoreWeight(r.Review, r.Result, r.Hop) * Decay(r.Received, k.p.Now, k.p.HalfLifeDays)
	k.cats.add(r.Category)
	k.srcs.add(r.Source)
	switch (Review{State: r.Review, Result: r.Result}).Bucket() {
	case "open":
		k.c.Review.Open++
	case "confirmed":
		k.c.Review.Confirmed++
	case "disputed":
		k.c.Review.Disputed++
	}
	if k.first == 0 || r.Received < k.first {
		k.first = r.Received
	}
	k.last = max(k.last, r.Received)
	k.seen(r.Org, r.Received)
	for w, start := range k.p.Starts {
		if r.Received >= start {
			k.c.Windows[w].Reports++
			if r.Amount.Value != "" {
				k.c.Amounts[w].Add(r.Amount)
			}
		}
	}
	if r.Recovered.Value != "" {
		k.c.Recovered.Add(r.Recovered)
	}
	if r.Hop > 0 {
		k.c.ConfirmedUpstream = k.c.ConfirmedUpstream || r.Upstream
		k.c.LinkedReports++
		if k.c.MinHop == 0 || r.Hop < k.c.MinHop {
			k.c.MinHop = r.Hop
		}
	}
}

// Counts are the counts of the reports added (without the marker and
// the watermark, which are the store's to add).
func (k *Counter) Counts() Counts {
	c := k.c
	if c.ReportCount > 0 {
		c.First, c.Last = time.UnixMilli(k.first).UTC(), time.UnixMilli(k.last).UTC()
		c.ReporterCount = int64(k.nOrgs + len(k.more))
	}
	for _, seen := range [2][]orgNewest{k.orgs[:k.nOrgs], k.more} {
		for _, o := range seen {
			for w, start := range k.p.Starts {
				if o.at >= start {
					c.Windows[w].Reporters++
				}
			}
		}
	}
	c.Last30Days = c.Windows[1].Reports
	if cats, srcs := k.cats.names(), k.srcs.names(); len(cats)+len(srcs) > 0 {
		both := make(Tally, 0, len(cats)+len(srcs))
		both = append(append(both, cats...), srcs...)
		c.ByCategory, c.BySource = both[:len(cats):len(cats)], both[len(cats):]
	}
	return c
}

// orgNewest is an org's newest counted report.
type orgNewest struct {
	org string
	at  int64
}

// seen adds a report of org at to the orgs seen, keeping each org's
// newest time.
func (k *Counter) seen(org string, at int64) {
	for _, seen := range [2][]orgNewest{k.orgs[:k.nOrgs], k.more} {
		for n := range seen {
			if seen[n].org == org {
				seen[n].at = max(seen[n].at, at)
				return
			}
		}
	}
	if k.nOrgs < len(k.orgs) {
		k.orgs[k.nOrgs] = orgNewest{org: org, at: at}
		k.nOrgs++
		return
	}
	k.more = append(k.more, orgNewest{org: org, at: at})
}
