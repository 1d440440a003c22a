package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/redis/go-redis/v9"
)

// TestMigrateSealsTheFeeds (issue 21.16, SPEC Part 3 precise point 15):
// a Redis written by Part 2 (a bank's feed events and alerts with
// plaintext IBANs, a rejected report's body) is refused by the layout
// check, naming the migration; "migrate" seals every such value, the
// feeds read as before, and the check passes. Another secret is refused.
func TestMigrateSealsTheFeeds(t *testing.T) {
	srv := redistest.StartTopology(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	const ibanText = "NL91ABNA0417164300"
	now := time.Now()
	// What Part 2 wrote.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "mg:{a:bank-a}:events", Values: []any{"event_id", "e1", "type", "report.received",
		"data", `{"report_id":"r1","iban":"` + ibanText + `"}`, "at", now.UnixMilli()}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "mg:{a:bank-a}:alerts", Values: []any{"alert_id", "a1", "iban", ibanText,
		"severity", "info", "message", "m", "reference", "r", "police", "police-nl"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, "mg:{p3}:rejected", "0123456789abcdef0123456789abcdef", `{"iban":"`+ibanText+`"}`).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(rdb, store.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckLayout(ctx); !errors.Is(err, store.ErrLayout) || !strings.Contains(err.Error(), "mulegate migrate") {
		t.Fatalf("Part 2 data: %v, want a refusal naming the migration", err)
	}
	stats, err := st.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sealed != (store.SealStats{Events: 1, Alerts: 1, Rejected: 1}) {
		t.Errorf("sealed %+v, want one of each", stats.Sealed)
	}
	for key, val := range srv.Dump(t) {
		if strings.Contains(val, ibanText) || strings.Contains(val, ibanText[4:12]) {
			t.Errorf("%s still holds the IBAN: %.200s", key, val)
		}
	}
	evs, _, _, err := st.Events(ctx, "bank-a", "", 10, nil, 24*time.Hour)
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Data), ibanText) {
		t.Errorf("the feed after sealing: %+v %v", evs, err)
	}
	als, _, _, err := st.Alerts(ctx, "bank-a", "", 10, 24*time.Hour)
	if err != nil || len(als) != 1 || als[0].IBAN != ibanText {
		t.Errorf("the alerts after sealing: %+v %v", als, err)
	}
	if err := st.CheckLayout(ctx); err != nil {
		t.Errorf("after the migration: %v", err)
	}
	if again, err := st.Migrate(ctx); err != nil || again.Sealed != (store.SealStats{}) {
		t.Errorf("a second migration: %+v %v, want nothing to do", again.Sealed, err)
	}
	other, _ := store.New(rdb, store.Options{Secret: []byte("another secret of at least 16 bytes")})
	if err := other.CheckLayout(ctx); !errors.Is(err, store.ErrLayout) || !strings.Contains(err.Error(), "another pseudonym secret") {
		t.Errorf("another secret: %v", err)
	}
}

// TestEmptyRedisIsMarkedCurrent: a fresh Redis passes the layout check
// and is marked with the current layout and this secret.
func TestEmptyRedisIsMarkedCurrent(t *testing.T) {
	srv := redistest.StartTopology(t)
	st, err := store.New(srv.Client(t), store.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.CheckLayout(ctx); err != nil {
		t.Fatal(err)
	}
	if v := srv.Client(t).HGet(ctx, "mg:layout", "v").Val(); v != "3" {
		t.Errorf("layout %q, want 3", v)
	}
	if err := st.CheckLayout(ctx); err != nil {
		t.Errorf("second check: %v", err)
	}
}
