package store

import (
	"context"
	"encoding/json"

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
	sk, err := s.locate(ctx, source.ID)
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
	return out, nil
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
