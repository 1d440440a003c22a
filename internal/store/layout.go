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

// LayoutVersion is the current layout: 3 seals the banks' feeds, the
// alerts and the outbox (Part 3).
const LayoutVersion = 3

func (s *Store) secretCheck() string {
	m := hmac.New(sha256.New, s.opt.Secret)
	m.Write([]byte("mulegate secret check v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// ErrLayout is the error of CheckLayout for data that needs "mulegate
// migrate" first, or that another secret wrote.
var ErrLayout = errors.New("store: data layout")

// CheckLayout makes sure the data is in the current layout and was
// written with this secret. An empty Redis is marked as current. Data
// written before the layout was marked (Part 2 and before) needs
// "mulegate migrate".
func (s *Store) CheckLayout(ctx context.Context) error {
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
		return s.markLayout(ctx)
	}
	ver, _ := strconv.Atoi(v["v"])
	if ver < LayoutVersion {
		return fmt.Errorf("%w: the data is in layout %d, this build needs %d: stop the gateways and run \"mulegate migrate --config FILE\"", ErrLayout, ver, LayoutVersion)
	}
	if ver > LayoutVersion {
		return fmt.Errorf("%w: the data is in layout %d, newer than this build knows (%d): run the newer build", ErrLayout, ver, LayoutVersion)
	}
	if v["s"] != s.secretCheck() {
		return fmt.Errorf("%w: the data was written with another pseudonym secret (storage.pseudonym_secret): with this one no count, report or sealed value could be read", ErrLayout)
	}
	return nil
}

func (s *Store) markLayout(ctx context.Context) error {
	if err := s.rdb.HSet(ctx, layoutKey, "v", LayoutVersion, "s", s.secretCheck()).Err(); err != nil {
		return s.fail(opPing, "layout: write", err)
	}
	return nil
}

// anyData returns the name of a mulegate key, "" when there is none.
func (s *Store) anyData(ctx context.Context) (string, error) {
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
func (s *Store) eachNode(ctx context.Context, f func(ctx context.Context, c redis.UniversalClient) error) error {
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

// SealStats say what SealFeeds did.
type SealStats struct{ Events, Alerts, Rejected int }

// sealFeeds seals what the layouts before 3 kept in plaintext: each
// bank's event feed ("data") and alerts ("iban"), rewritten entry by
// entry into a copy with the same ids that then replaces the stream (the
// same hash tag: one slot), and the bodies of rejected reports. Outbox
// entries are left to drain (they are read either way). Run with the
// gateways stopped: an event written meanwhile would be lost by the
// replace.
func (s *Store) sealFeeds(ctx context.Context) (SealStats, error) {
	var st SealStats
	err := s.eachNode(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		for _, pat := range []string{"mg:{a:*}:events", "mg:{a:*}:alerts"} {
			err := scanKeys(ctx, c, pat, func(key string) error {
				org := strings.TrimSuffix(strings.TrimPrefix(key, "mg:{a:"), key[strings.LastIndex(key, "}"):])
				n, err := s.sealStream(ctx, key, org, strings.HasSuffix(key, ":events"))
				if strings.HasSuffix(key, ":events") {
					st.Events += n
				} else {
					st.Alerts += n
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		return scanKeys(ctx, c, "mg:{p*}:rejected", func(key string) error {
			bodies, err := s.rdb.HGetAll(ctx, key).Result()
			if err != nil {
				return err
			}
			for id, body := range bodies {
				if sealed(body) {
					continue
				}
				if err := s.rdb.HSet(ctx, key, id, s.blobs.seal(adOutbox(id), []byte(body))).Err(); err != nil {
					return err
				}
				st.Rejected++
			}
			return nil
		})
	})
	return st, err
}

// sealStream rewrites one feed stream with its plaintext values sealed;
// it returns how many entries it sealed (0: nothing to do, the stream is
// left as it is).
func (s *Store) sealStream(ctx context.Context, key, org string, events bool) (int, error) {
	msgs, err := s.rdb.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		return 0, err
	}
	field := "iban"
	if events {
		field = "data"
	}
	n := 0
	for _, m := range msgs {
		if v, _ := m.Values[field].(string); v != "" && !sealed(v) {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	tmp := key + ":sealing"
	ttl, err := s.rdb.TTL(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	if err := s.rdb.Del(ctx, tmp).Err(); err != nil {
		return 0, err
	}
	for _, m := range msgs {
		vals := map[string]any{}
		for k, v := range m.Values {
			vals[k] = v
		}
		if v, _ := m.Values[field].(string); v != "" && !sealed(v) {
			ad := adAlert(org, fmt.Sprint(m.Values["alert_id"]))
			if events {
				ad = adEvent(org, fmt.Sprint(m.Values["event_id"]))
			}
			vals[field] = s.blobs.seal(ad, []byte(v))
		}
		if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: tmp, ID: m.ID, Values: vals}).Err(); err != nil {
			return 0, err
		}
	}
	if err := s.rdb.Rename(ctx, tmp, key).Err(); err != nil {
		return 0, err
	}
	if ttl > 0 {
		if err := s.rdb.Expire(ctx, key, ttl).Err(); err != nil {
			return 0, err
		}
	}
	return n, nil
}
