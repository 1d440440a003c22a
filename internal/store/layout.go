package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// The data layout: "mg:layout" names the layout version the data is in
// and a check of the pseudonym secret it was written with (an HMAC of a
// constant, never the secret). "mulegate serve" and "mulegate forward"
// refuse to start on data of an older layout, naming the migration, and
// with another secret: they would count nothing the data holds and open
// none of its sealed values.
//
//	mg:layout   hash   v: layout version, s: secret check (hex)
const layoutKey = "mg:layout"

// LayoutVersion is the current layout (docs/operations.md lists what
// each version changed; package store/migrate brings older data to it).
const LayoutVersion = 6

// SecretCheck is what "mg:layout" keeps to recognise this secret.
func (s *conn) SecretCheck() string {
	m := hmac.New(sha256.New, s.opt.Secret)
	m.Write([]byte("mulegate secret check v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// ErrLayout is the error of CheckLayout for data that needs "mulegate
// migrate" first, or that another secret wrote.
var ErrLayout = errors.New("store: data layout")

// CheckLayout makes sure the data is in the current layout and was
// written with this secret. An empty Redis is marked as current; data
// without the mark, or with an older one, needs "mulegate migrate".
func (s *conn) CheckLayout(ctx context.Context) error {
	v, err := s.rdb.HGetAll(ctx, layoutKey).Result()
	if err != nil {
		return s.fail(opPing, "layout: read", err)
	}
	if len(v) == 0 {
		found, err := s.anyData(ctx)
		if err != nil {
			return s.fail(opPing, "layout: scan", err)
		}
		if found != "" {
			return fmt.Errorf("%w: Redis holds mulegate data of a layout before version %d (e.g. %s): stop the gateways and run \"mulegate migrate --config FILE\" first",
				ErrLayout, LayoutVersion, found)
		}
		return s.MarkLayout(ctx)
	}
	ver, _ := strconv.Atoi(v["v"])
	if ver < LayoutVersion {
		return fmt.Errorf("%w: the data is in layout %d, this build needs %d: stop the gateways and run \"mulegate migrate --config FILE\"", ErrLayout, ver, LayoutVersion)
	}
	if ver > LayoutVersion {
		return fmt.Errorf("%w: the data is in layout %d, newer than this build knows (%d): run the newer build", ErrLayout, ver, LayoutVersion)
	}
	if v["s"] != s.SecretCheck() {
		return fmt.Errorf("%w: the data was written with another pseudonym secret (storage.pseudonym_secret): with this one no count, report or sealed value could be read", ErrLayout)
	}
	return nil
}

// MarkLayout marks the data as in the current layout, written with this
// secret.
func (s *conn) MarkLayout(ctx context.Context) error {
	if err := s.rdb.HSet(ctx, layoutKey, "v", LayoutVersion, "s", s.SecretCheck()).Err(); err != nil {
		return s.fail(opPing, "layout: write", err)
	}
	return nil
}

// anyData returns the name of a mulegate key, "" when there is none.
func (s *conn) anyData(ctx context.Context) (string, error) {
	found := ""
	err := s.eachNode(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return scanKeys(ctx, c, "mg:*", func(k string) error {
			if found == "" && k != layoutKey && !strings.HasPrefix(k, "mg:breaker:") {
				found = k
				return errStopScan
			}
			return nil
		})
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return found, err
}

var errStopScan = errors.New("stop")

// eachNode runs f on every master (a cluster) or on the one Redis, with
// a client that scans that node and reads and writes through the whole
// client. The masters are taken one after the other, so f may add to
// what the caller collects without a lock.
func (s *conn) eachNode(ctx context.Context, f func(ctx context.Context, c redis.UniversalClient) error) error {
	c, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return f(ctx, s.rdb)
	}
	var mu sync.Mutex
	var masters []*redis.Client
	err := c.ForEachMaster(ctx, func(_ context.Context, m *redis.Client) error {
		mu.Lock()
		masters = append(masters, m)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range masters {
		if err := f(ctx, &scanOn{m, s.rdb}); err != nil {
			return err
		}
	}
	return nil
}

// scanOn scans one node and reads and writes through the whole client.
type scanOn struct {
	node *redis.Client
	redis.UniversalClient
}

func (c *scanOn) Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd {
	return c.node.Scan(ctx, cursor, match, count)
}

func scanKeys(ctx context.Context, c redis.UniversalClient, match string, each func(string) error) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := each(k); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
