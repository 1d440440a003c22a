package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// feeds seals what the layouts before 3 kept in plaintext in each bank's
// event feed ("data") and alerts ("iban"): each stream is rewritten with
// the same entry ids (rewriteStream).
func (m *migration) feeds(ctx context.Context) error {
	for _, kind := range []string{"events", "alerts"} {
		err := m.st.EachKey(ctx, "mg:{a:*}:"+kind, func(key string) error {
			org := strings.TrimSuffix(strings.TrimPrefix(key, "mg:{a:"), "}:"+kind)
			n, err := rewriteStream(ctx, m.rdb, key, func(e redis.XMessage) bool { return m.sealFeedEntry(org, kind, e) })
			if kind == "events" {
				m.stats.Events += n
			} else {
				m.stats.Alerts += n
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sealFeedEntry seals an event's data or an alert's IBAN in place; false
// when there was nothing to seal.
func (m *migration) sealFeedEntry(org, kind string, e redis.XMessage) bool {
	if kind == "events" {
		v, _ := e.Values["data"].(string)
		if v == "" || isSealed(v) {
			return false
		}
		e.Values["data"] = m.st.SealEvent(org, fmt.Sprint(e.Values["event_id"]), []byte(v))
		return true
	}
	v, _ := e.Values["iban"].(string)
	if v == "" || isSealed(v) {
		return false
	}
	e.Values["iban"] = m.st.SealAlertIBAN(org, fmt.Sprint(e.Values["alert_id"]), v)
	return true
}

// rejected seals the police bodies of rejected reports.
func (m *migration) rejected(ctx context.Context) error {
	return m.st.EachKey(ctx, "mg:{p*}:rejected", func(key string) error {
		bodies, err := m.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return err
		}
		for id, body := range bodies {
			if isSealed(body) {
				continue
			}
			if err := m.rdb.HSet(ctx, key, id, m.st.SealOutbox(id, []byte(body))).Err(); err != nil {
				return err
			}
			m.stats.Rejected++
		}
		return nil
	})
}

// outbox seals the bodies of outbox entries queued before layout 3 and
// gives the reports' entries queued before books their IBAN's pseudonym
// ("ps"), which the forwarders and the relay now read.
func (m *migration) outbox(ctx context.Context) error {
	return m.st.EachKey(ctx, "mg:{p*}:outbox", func(key string) error {
		n, err := rewriteStream(ctx, m.rdb, key, func(e redis.XMessage) bool { return m.completeOutboxEntry(ctx, e) })
		m.stats.Outbox += n
		return err
	})
}

func (m *migration) completeOutboxEntry(ctx context.Context, e redis.XMessage) bool {
	id, _ := e.Values["id"].(string)
	if id == "" {
		return false
	}
	changed := false
	if body, _ := e.Values["body"].(string); body != "" && !isSealed(body) {
		e.Values["body"] = m.st.SealOutbox(id, []byte(body))
		changed = true
	}
	kind, _ := e.Values["kind"].(string)
	if ps, _ := e.Values["ps"].(string); ps == "" && (kind == "" || kind == "event") {
		if k, err := m.st.ReportKey(ctx, id); err == nil {
			e.Values["ps"] = k.Pseudonym
			changed = true
		}
	}
	return changed
}
