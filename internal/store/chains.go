package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// Onward records where a report's money went on (SPEC Part 3, MED 2.0):
// the whole request is claimed under the caller's Idempotency-Key (the
// namespace POST /v1/reports uses: the same key with another body is a
// conflict), then each transfer is accepted as a linked report whose id
// is derived from the org, the key and its position, so a retry after a
// failure completes the call and never duplicates a report.
func (s *Reports) Onward(ctx context.Context, caller domain.Caller, key string, source domain.ReportStatus,
	transfers []domain.Transfer, link domain.ChainLink) ([]domain.Accepted, error) {
	canonical, err := json.Marshal(struct {
		Source    string            `json:"source"`
		Transfers []json.RawMessage `json:"transfers"`
	}{Source: source.ID, Transfers: transferBodies(transfers, link)})
	if err != nil {
		return nil, domain.Internal("onward: encode", err)
	}
	raw, now := rawID(s.ReportID(caller.Org, key)), s.now()
	sk, err := s.locate(ctx, source.ID) // the source's book: the claim names its partition, the children go there
	if err != nil {
		return nil, err
	}
	if link.Upstream, _, err = s.sourceWord(ctx, sk, source.ID); err != nil {
		return nil, err
	}
	if err := s.claimReport(ctx, raw, s.claimValue(canonical, sk.part, now), now); err != nil {
		return nil, err
	}
	out := make([]domain.Accepted, len(transfers))
	for n, t := range transfers {
		a, err := s.Accept(ctx, caller.Org, caller.Type, linkedKey(key, n), t.Submission(link))
		if err != nil {
			return nil, err
		}
		out[n] = a
	}
	return out, s.linkChildren(ctx, sk, source.ID, out)
}

// linkedKey is the idempotency key of a request's n-th linked report: a
// NUL, which no Idempotency-Key holds, keeps it apart from every key a
// client can send.
func linkedKey(key string, n int) string {
	return key + "\x00" + string(rune('0'+n/1000%10)) + string(rune('0'+n/100%10)) +
		string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

func transferBodies(ts []domain.Transfer, link domain.ChainLink) []json.RawMessage {
	out := make([]json.RawMessage, len(ts))
	for n, t := range ts {
		out[n] = t.Submission(link).Canonical()
	}
	return out
}

// HolderOf is the bank org that holds an IBAN now ("" for none).
func (s *Reports) HolderOf(i iban.IBAN) string { return s.opt.HolderOf(i) }

// childrenScript adds linked reports to their source's list of onward
// reports (o:<id> in the source's book: their raw ids, one after the
// other), each once, and queues the source's word for the new ones (a
// KindUpstream entry), so that a confirmation or a marker that came
// between the onward request's reading of its source and this step still
// reaches them; a source that is gone (past retention) gets none.
var childrenScript = newScript("children", []string{"lib/record"}, childrenArgs{})

// childrenArgs: a source report's new onward reports.
type childrenArgs struct {
	ID        string `lua:"id"`       // the source's raw id
	Children  string `lua:"children"` // raw ids, 16 bytes each
	Subject   string `lua:"subject"`  // the source's id (hex)
	Pseudo    string `lua:"pseudo"`   // the source's book's pseudonym
	Wake      string `lua:"wake"`
	Partition int    `lua:"partition"`
}

func (a childrenArgs) argv() []any { return argvOf(a) }

// maxChain bounds a chain view (SPEC: at most 1000 reports).
const maxChain = 1000

// Chain is the chain a report belongs to, from its root, breadth-first,
// at most maxChain reports, each as GET /v1/reports/{id} reads it. The
// reports of one hop are read together (readReports), so a chain costs
// three round trips per hop, not three per report.
func (s *Reports) Chain(ctx context.Context, st domain.ReportStatus) (root string, reports []domain.ReportStatus, err error) {
	root = st.ID
	if st.Chain != nil {
		root = st.Chain.RootID
	}
	level, next := []string{root}, []string(nil)
	for len(level) > 0 && len(reports) < maxChain {
		// No more than can still be shown: one past retention is left
		// out, and the rest of the hop read after it.
		n := min(len(level), maxChain-len(reports))
		got, err := s.readReports(ctx, level[:n])
		if err != nil {
			return root, nil, err
		}
		level = level[n:]
		for _, r := range got {
			if r != nil {
				reports = append(reports, *r)
				// The next hop is kept to what the view can still show,
				// with room for some gone past retention: a report's
				// onward list has no bound of its own.
				next = append(next, r.Children[:min(len(r.Children), max(0, 2*maxChain-len(next)))]...)
			}
		}
		if len(level) == 0 {
			level, next = next, nil
		}
	}
	return root, reports, nil
}

// linkChildren records the linked reports of one onward request with
// their source, for the chain view.
func (s *Reports) linkChildren(ctx context.Context, k ibanKeys, source string, acc []domain.Accepted) error {
	var b strings.Builder
	for _, a := range acc {
		b.WriteString(rawID(a.ID))
	}
	args := childrenArgs{ID: rawID(source), Children: b.String(), Subject: source, Pseudo: k.pseudo, Wake: WakeChannel, Partition: k.part}
	if err := childrenScript.Run(ctx, s.rdb, []string{k.book(), s.OutboxKey(k.part)}, args.argv()...).Err(); err != nil {
		return s.fail(opReport, "chain: link", err)
	}
	return nil
}

// upstreamScript writes a source's word into a linked report's record.
var upstreamScript = newScript("upstream", []string{"lib/record"}, upstreamArgs{})

// upstreamArgs: whether a linked report's source confirms it, as of which
// reading of the source.
type upstreamArgs struct {
	ID      string `lua:"id"`      // the linked report's raw id
	Up      string `lua:"up"`      // "1" or ""
	Version int64  `lua:"version"` // the reading's time on the source's node, µs
}

func (a upstreamArgs) argv() []any { return argvOf(a) }

// SetUpstream records in a linked report whether its source confirms it,
// as of version (SourceWord's): the latest reading wins, so words applied
// out of order end as the source is now. A report that is gone is left
// alone.
func (s *Reports) SetUpstream(ctx context.Context, reportID string, up bool, version int64) error {
	k, err := s.locate(ctx, reportID)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	flag := ""
	if up {
		flag = "1"
	}
	err = upstreamScript.Run(ctx, s.rdb, []string{k.book()}, upstreamArgs{ID: rawID(reportID), Up: flag, Version: version}.argv()...).Err()
	if err != nil {
		return s.fail(opReport, "chain: upstream", err)
	}
	return nil
}

// sourceWordScript reads a source report as its linked reports need it:
// its record, the book's holder, whether its IBAN carries a marker, and
// the time of the reading on the node that holds the book.
var sourceWordScript = newScript("source_word", nil, sourceWordArgs{})

// sourceWordArgs: the source report.
type sourceWordArgs struct {
	ID string `lua:"id"` // raw
}

func (a sourceWordArgs) argv() []any { return argvOf(a) }

// SourceWord says whether a report confirms its linked reports now
// (domain.ReportStatus.ConfirmsOnward, the IBAN's marker included) and
// the reading's version: the time in µs on the node that holds the
// report's book, read in the same step. Every word about one source is
// read on that node, so versions order them whichever gateway read them
// and in whatever order their writes land. NotFound once the report is
// gone.
func (s *Reports) SourceWord(ctx context.Context, reportID string) (up bool, version int64, err error) {
	k, err := s.locate(ctx, reportID)
	if err != nil {
		return false, 0, err
	}
	return s.sourceWord(ctx, k, reportID)
}

func (s *Reports) sourceWord(ctx context.Context, k ibanKeys, id string) (up bool, version int64, err error) {
	v, err := sourceWordScript.Run(ctx, s.rdb, []string{k.book()}, sourceWordArgs{ID: rawID(id)}.argv()...).StringSlice()
	if err != nil {
		return false, 0, s.fail(opReport, "chain: source word", err)
	}
	if len(v) != 7 {
		return false, 0, domain.Internal("chain: source word", errUnexpected(v))
	}
	if v[0] == "" {
		return false, 0, &domain.Error{Code: domain.CodeNotFound, Msg: "no such report"}
	}
	holder, _ := splitHead(v[2])
	r, err := decodeRecord(v[0], v[1], holder)
	if err != nil {
		return false, 0, domain.Internal("chain: source word "+id, err)
	}
	sec, err1 := strconv.ParseInt(v[4], 10, 64)
	usec, err2 := strconv.ParseInt(v[5], 10, 64)
	if err1 != nil || err2 != nil {
		return false, 0, domain.Internal("chain: source word", errUnexpected(v))
	}
	st := r.status(id)
	if parseClear(v[6], "").Covers(r.Received.UnixMilli()) {
		return false, sec*1_000_000 + usec, nil // a cleared source confirms nothing
	}
	return st.ConfirmsOnward(v[3] != ""), sec*1_000_000 + usec, nil
}

// eagerWords bounds the linked reports a change tells at once.
const eagerWords = 100

// spreadWord tells a changed report's linked reports its word at once
// (up to eagerWords of them), so their lookups show it within moments
// whatever the holders' relay's backlog. It is the fast path only: the
// change queued a KindUpstream entry in the same step, which the relay
// applies durably later (the same word, or a newer one; versions make the
// two paths agree). A failure here is left to that entry.
func (s *conn) spreadWord(ctx context.Context, k ibanKeys, source string, kids []string) {
	r := &Reports{s}
	up, version, err := r.sourceWord(ctx, k, source)
	if err != nil {
		return
	}
	for _, kid := range kids[:min(len(kids), eagerWords)] {
		if r.SetUpstream(ctx, kid, up, version) != nil {
			return
		}
	}
}

// splitIDs splits report ids in hex written one after the other.
func splitIDs(s string) []string {
	var out []string
	for ; len(s) >= 2*rawIDLen; s = s[2*rawIDLen:] {
		out = append(out, s[:2*rawIDLen])
	}
	return out
}

// upstreamEntry is the outbox entry that has a report's linked reports
// hear its word again (after a review change of the report): the
// holders' relay reads the word from the report's book as it is then
// (SourceWord) and writes it into theirs.
func upstreamEntry(k ibanKeys, st domain.ReportStatus) entry {
	return entry{"id", st.ID, "ps", k.pseudo, "kind", "upstream", "kids", strings.Join(st.Children, "")}
}
