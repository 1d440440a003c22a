package store_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/store"
)

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
	if v := srv.Client(t).HGet(ctx, "mg:layout", "v").Val(); v != strconv.Itoa(store.LayoutVersion) {
		t.Errorf("layout %q, want %d", v, store.LayoutVersion)
	}
	if err := st.CheckLayout(ctx); err != nil {
		t.Errorf("second check: %v", err)
	}
}
