package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/iban"

	"github.com/mulegate/mulegate/internal/domain"
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
// reports (o:<id> in the source's book: their ids, hex, one after the
// other), each once; a source that is gone (past retention) gets none.
var childrenScript = newScript("children", nil, childrenArgs{})

// childrenArgs: a source report's new onward reports.
type childrenArgs struct {
	ID       string `lua:"id"`       // the source's raw id
	Children string `lua:"children"` // hex ids, 32 characters each
}

func (a childrenArgs) argv() []any { return argvOf(a) }

// maxChain bounds a chain view (SPEC: at most 1000 reports).
const maxChain = 1000

// Chain is the chain a report belongs to, from its root, breadth-first,
// at most maxChain reports, each as GET /v1/reports/{id} reads it.
func (s *Reports) Chain(ctx context.Context, st domain.ReportStatus) (root string, reports []domain.ReportStatus, err error) {
	root = st.ID
	if st.Chain != nil {
		root = st.Chain.RootID
	}
	queue := []string{root}
	for len(queue) > 0 && len(reports) < maxChain {
		id := queue[0]
		queue = queue[1:]
		r, _, _, err := s.readReport(ctx, id) // one read: the record, and its children (o:<id>)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			continue // past retention
		}
		if err != nil {
			return root, nil, err
		}
		reports = append(reports, r)
		queue = append(queue, r.Children...)
	}
	return root, reports, nil
}

// linkChildren records the linked reports of one onward request with
// their source, for the chain view.
func (s *Reports) linkChildren(ctx context.Context, k ibanKeys, source string, acc []domain.Accepted) error {
	var b strings.Builder
	for _, a := range acc {
		b.WriteString(a.ID)
	}
	if err := childrenScript.Run(ctx, s.rdb, []string{k.book()}, childrenArgs{ID: rawID(source), Children: b.String()}.argv()...).Err(); err != nil {
		return s.fail(opReport, "chain: link", err)
	}
	return nil
}

// upstreamScript writes a source's word into a linked report's record.
var upstreamScript = newScript("upstream", []string{"lib/record"}, upstreamArgs{})

// upstreamArgs: whether a linked report's source confirms it, as of when.
type upstreamArgs struct {
	ID string `lua:"id"` // the linked report's raw id
	Up string `lua:"up"` // "1" or ""
	At int64  `lua:"at"` // ms
}

func (a upstreamArgs) argv() []any { return argvOf(a) }

// SetUpstream records in a linked report whether its source confirms it
// as of at (the holders' relay, from the source's KindUpstream entry): the
// latest word wins. A report that is gone is left alone.
func (s *Reports) SetUpstream(ctx context.Context, reportID string, up bool, at time.Time) error {
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
	err = upstreamScript.Run(ctx, s.rdb, []string{k.book()}, upstreamArgs{ID: rawID(reportID), Up: flag, At: at.UnixMilli()}.argv()...).Err()
	if err != nil {
		return s.fail(opReport, "chain: upstream", err)
	}
	return nil
}

// upstreamEntry is the outbox entry that tells a report's linked reports
// whether it confirms them now.
func upstreamEntry(k ibanKeys, st domain.ReportStatus, confirms bool, at time.Time) entry {
	up := "0"
	if confirms {
		up = "1"
	}
	return entry{"id", st.ID, "ps", k.pseudo, "kind", "upstream", "kids", strings.Join(st.Children, ""), "up", up,
		"at", strconv.FormatInt(at.UnixMilli(), 10)}
}
