package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// Options configure the store.
type Options struct {
	// Secret keys the IBAN pseudonyms and report ids. Changing it orphans
	// every stored count, so it is configuration, never generated.
	Secret     []byte
	Partitions int           // hash-tag partitions, default 64
	Retention  time.Duration // how long a report counts, default 730 days
	// IdempotencyTTL is how long an Idempotency-Key is remembered; it is
	// never shorter than Retention would need for report status lookups.
	IdempotencyTTL time.Duration
	// WaitReplicas > 0 makes intake wait (WAIT) until that many replicas
	// have the accepted report before answering 202; if they do not
	// within WaitTimeout the client gets 503 and retries with the same
	// Idempotency-Key (the retry counts nothing twice).
	WaitReplicas int
	WaitTimeout  time.Duration
	Now          func() time.Time
}

// Store is the Redis-backed report store.
type Store struct {
	rdb  redis.UniversalClient
	opt  Options
	now  func() time.Time
	tags []string // "{p0}".."{pN-1}"
	// macs pools keyed HMAC states: building one per lookup costs more
	// than the rest of the pseudonym computation.
	macs sync.Pool
	// OnError, if set, is told about every Redis failure (for metrics).
	OnError func(op string)
}

// New builds a Store over any go-redis UniversalClient.
func New(rdb redis.UniversalClient, opt Options) (*Store, error) {
	if len(opt.Secret) < 16 {
		return nil, errors.New("store: the pseudonym secret must be at least 16 bytes")
	}
	if opt.Partitions <= 0 {
		opt.Partitions = 64
	}
	if opt.Retention <= 0 {
		opt.Retention = 730 * 24 * time.Hour
	}
	if opt.IdempotencyTTL < 24*time.Hour {
		opt.IdempotencyTTL = 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{rdb: rdb, opt: opt, now: opt.Now}
	secret := opt.Secret
	s.macs.New = func() any { return hmac.New(sha256.New, secret) }
	for p := range opt.Partitions {
		s.tags = append(s.tags, "{p"+strconv.Itoa(p)+"}")
	}
	return s, nil
}

// Partitions is the number of hash-tag partitions.
func (s *Store) Partitions() int { return s.opt.Partitions }

// OutboxKey names the outbox stream of partition p.
func (s *Store) OutboxKey(p int) string { return "mg:" + s.tags[p] + ":outbox" }

// ReportKey names the report hash in partition tag.
func reportKey(tag, id string) string { return "mg:" + tag + ":r:" + id }

func idemKey(id string) string { return "mg:idem:" + id }

// Pseudonym returns the keyed pseudonym of an IBAN and its partition.
func (s *Store) Pseudonym(i iban.IBAN) (string, int) {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte("iban\x00"))
	m.Write([]byte(i.String()))
	var buf [sha256.Size]byte
	sum := m.Sum(buf[:0])
	s.macs.Put(m)
	part := int(binary.BigEndian.Uint32(sum[:4]) % uint32(s.opt.Partitions))
	return hex.EncodeToString(sum[4:20]), part
}

// ReportID derives the report id from the submitting org and its
// Idempotency-Key, so retries of one request always name one report.
func (s *Store) ReportID(org, key string) string { return s.derivedID("report", org, key) }

// derivedID is HMAC(secret, kind, org, key), 128 bits in hex.
func (s *Store) derivedID(kind, org, key string) string {
	m := s.macs.Get().(hash.Hash)
	defer s.macs.Put(m)
	m.Reset()
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(org))
	m.Write([]byte{0})
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidReportID reports whether id has the shape ReportID produces.
func ValidReportID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type ibanKeys struct {
	tag, pseudo string
	part        int
}

func (s *Store) keysFor(i iban.IBAN) ibanKeys {
	p, part := s.Pseudonym(i)
	return ibanKeys{tag: s.tags[part], pseudo: p, part: part}
}

func (k ibanKeys) counters() string  { return "mg:" + k.tag + ":i:" + k.pseudo }
func (k ibanKeys) reporters() string { return "mg:" + k.tag + ":o:" + k.pseudo }
func (k ibanKeys) index() string     { return "mg:" + k.tag + ":z:" + k.pseudo }

func (s *Store) ttlSeconds() int64 {
	// Keys outlive the retention by a day so that trimming, not expiry,
	// is what retires a report from the counts.
	return int64((s.opt.Retention + 24*time.Hour) / time.Second)
}

// fingerprint is the keyed hash of a request's canonical bytes, kept in
// the idempotency record. Keyed, because the bytes hold an IBAN: an
// unkeyed hash of them could be inverted by hashing candidate IBANs.
func (s *Store) fingerprint(canonical []byte) string {
	m := s.macs.Get().(hash.Hash)
	defer s.macs.Put(m)
	m.Reset()
	m.Write([]byte("fingerprint\x00"))
	m.Write(canonical)
	return hex.EncodeToString(m.Sum(nil))
}

// Accept records a report in two steps that are each safe to repeat: claim
// the (org, Idempotency-Key) with the request's fingerprint, then count the
// report on its IBAN's slot. It returns only after Redis acknowledged both
// (and, with WaitReplicas, after replicas did).
func (s *Store) Accept(ctx context.Context, org string, orgType report.OrgType, idemKeyValue string, sub report.Submission) (report.Accepted, error) {
	id := s.ReportID(org, idemKeyValue)
	k := s.keysFor(sub.IBAN)
	idemTTL := max(s.opt.IdempotencyTTL, s.opt.Retention+24*time.Hour)

	if err := s.claim(ctx, opAccept, idemKey(id), sub.Canonical(), k.tag, idemTTL); err != nil {
		return report.Accepted{}, err
	}

	now := s.now()
	body, err := json.Marshal(newPoliceReport(sub, id, org, orgType, now))
	if err != nil {
		return report.Accepted{}, report.Internal("accept report: encode", err)
	}
	member := id + "|" + string(sub.Category) + "|" + string(orgType) + "|" + org
	cutoff := now.Add(-s.opt.Retention).UnixMilli()
	v, err := s.runReplicated(ctx, acceptScript,
		[]string{k.counters(), k.reporters(), k.index(), reportKey(k.tag, id), s.OutboxKey(k.part)},
		id, now.UnixMilli(), member, org, cutoff, s.ttlSeconds(), string(sub.Category), string(orgType), body,
		WakeChannel, k.part,
	)
	if err != nil {
		return report.Accepted{}, s.fail(opAccept, "accept report script "+sub.IBAN.Masked(), err)
	}
	out, err := redis.NewCmdResult(v, nil).Int64Slice()
	if err != nil || len(out) != 2 {
		return report.Accepted{}, report.Internal("accept report: parse", fmt.Errorf("unexpected reply %v", v))
	}
	return report.Accepted{ID: id, IBAN: sub.IBAN, ReportCount: out[1], Replayed: out[0] == 0}, nil
}

// claim is the first step of every idempotent write: it records (org,
// Idempotency-Key) under key with the request's keyed fingerprint and a
// value, or finds it recorded before. The same request again passes (the
// second step is itself safe to repeat); another request under the same
// key is a conflict.
func (s *Store) claim(ctx context.Context, label op, key string, canonical []byte, value string, ttl time.Duration) error {
	res, err := s.runReplicated(ctx, claimScript, []string{key}, s.fingerprint(canonical), value, int64(ttl/time.Second))
	if err != nil {
		return s.fail(label, "idempotency claim script", err)
	}
	if res == "conflict" {
		return &report.Error{Code: report.CodeConflict, Field: "Idempotency-Key",
			Msg: "this Idempotency-Key was already used with a different request"}
	}
	return nil
}

// runReplicated runs a script that writes. With WaitReplicas it sends
// WAIT on the same connection (WAIT covers the writes of its own
// connection only), in the same round trip, to the master that owns the
// keys' slot, and fails as unavailable when too few replicas acknowledged
// in time: the client retries with the same Idempotency-Key, which
// counts nothing twice.
func (s *Store) runReplicated(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, error) {
	if s.opt.WaitReplicas <= 0 {
		return sc.Run(ctx, s.rdb, keys, args...).Result()
	}
	var node *redis.Client
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		node = n
	case *redis.Client:
		node = c
	default:
		return nil, errors.New("wait_replicas needs a single or cluster client")
	}
	timeout := s.opt.WaitTimeout
	if timeout <= 0 {
		timeout = 100 * time.Millisecond
	}
	var res, acked *redis.Cmd
	err := withScripts(func() error {
		_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			res = sc.EvalSha(ctx, p, keys, args...)
			acked = p.Do(ctx, "WAIT", s.opt.WaitReplicas, timeout.Milliseconds())
			return nil
		})
		return err
	}, func() error { return sc.Load(ctx, node).Err() })
	if err != nil {
		return nil, err
	}
	if n, _ := acked.Int64(); n < int64(s.opt.WaitReplicas) {
		return nil, &report.Error{Code: report.CodeUnavailable,
			Msg: "the report store could not confirm replication in time; retry with the same Idempotency-Key",
			Err: fmt.Errorf("WAIT: %d of %d replicas acknowledged", n, s.opt.WaitReplicas)}
	}
	return res.Result()
}

// Lookup returns the counts for one IBAN in one round trip.
func (s *Store) Lookup(ctx context.Context, i iban.IBAN) (report.Counts, error) {
	k := s.keysFor(i)
	keys, args := s.lookupArgs(k)
	v, err := lookupScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return report.Counts{}, s.fail(opLookup, "lookup script "+i.Masked(), err)
	}
	return parseCounts(v)
}

func (s *Store) lookupArgs(k ibanKeys) ([]string, []any) {
	now := s.now()
	cutoff := now.Add(-s.opt.Retention).UnixMilli()
	return []string{k.counters(), k.reporters(), k.index()},
		[]any{cutoff, max(cutoff, now.Add(-30*24*time.Hour).UnixMilli())}
}

// LookupMany returns counts for many IBANs with one pipelined round trip
// per Redis node (go-redis splits a cluster pipeline by node), not one
// call per IBAN.
func (s *Store) LookupMany(ctx context.Context, ibans []iban.IBAN) ([]report.Counts, error) {
	out := make([]report.Counts, len(ibans))
	if len(ibans) == 0 {
		return out, nil
	}
	cmds := make([]*redis.Cmd, len(ibans))
	err := s.pipelined(ctx, func(p redis.Pipeliner) error {
		for n, i := range ibans {
			keys, args := s.lookupArgs(s.keysFor(i))
			cmds[n] = lookupScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(opLookup, "lookup batch script", err)
	}
	for n, c := range cmds {
		v, err := c.Slice()
		if err != nil {
			return nil, s.fail(opLookup, "lookup batch script", err)
		}
		if out[n], err = parseCounts(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pipelined runs fill in one pipeline. Pipelined scripts go as EVALSHA
// only, so if Redis lost its script cache (a restart, a failover to a
// fresh replica) it loads every script and runs the pipeline once more;
// fill must therefore be safe to call twice.
func (s *Store) pipelined(ctx context.Context, fill func(p redis.Pipeliner) error) error {
	return withScripts(
		func() error { _, err := s.rdb.Pipelined(ctx, fill); return err },
		func() error { return s.LoadScripts(ctx) })
}

// withScripts runs run; if Redis answered NOSCRIPT, it loads the scripts
// with load and runs it once more.
func withScripts(run, load func() error) error {
	err := run()
	if !isNoScript(err) {
		return err
	}
	if err := load(); err != nil {
		return err
	}
	return run()
}

func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// LoadScripts loads every script on every master, so pipelined EVALSHA
// finds them.
func (s *Store) LoadScripts(ctx context.Context) error {
	load := func(ctx context.Context, c *redis.Client) error {
		for _, sc := range allScripts {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, load)
	case *redis.Client:
		return load(ctx, c)
	default:
		for _, sc := range allScripts {
			if err := sc.Load(ctx, s.rdb).Err(); err != nil {
				return err
			}
		}
		return nil
	}
}

func parseCounts(v []any) (report.Counts, error) {
	c := report.Counts{ByCategory: map[string]int64{}, BySource: map[string]int64{}}
	bad := func() (report.Counts, error) {
		return report.Counts{}, report.Internal("lookup: parse", fmt.Errorf("unexpected reply %v", v))
	}
	if len(v) == 0 {
		return bad()
	}
	n, ok := v[0].(int64)
	if !ok {
		return bad()
	}
	c.ReportCount = n
	if n == 0 {
		return c, nil
	}
	if len(v) != 6 {
		return bad()
	}
	c.ReporterCount, _ = v[1].(int64)
	c.Last30Days, _ = v[2].(int64)
	c.First = msTime(v[3])
	c.Last = msTime(v[4])
	fields, _ := v[5].([]any)
	for j := 0; j+1 < len(fields); j += 2 {
		name, _ := fields[j].(string)
		val, _ := strconv.ParseInt(fmt.Sprint(fields[j+1]), 10, 64)
		if val <= 0 {
			continue
		}
		switch {
		case strings.HasPrefix(name, "c:"):
			c.ByCategory[name[2:]] = val
		case strings.HasPrefix(name, "s:"):
			c.BySource[name[2:]] = val
		}
	}
	return c, nil
}

func msTime(v any) time.Time {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(int64(f)).UTC()
}

// reportPartition finds the partition that holds a report: the
// idempotency record names it, and if that record is gone (a failover
// lost it, or it expired) every partition is asked, in one pipelined
// round trip per node, whether it holds the report's hash. The report's
// own keys are the truth; the idempotency record is only a shortcut.
func (s *Store) reportPartition(ctx context.Context, id string) (string, int, error) {
	notFound := &report.Error{Code: report.CodeNotFound, Msg: "no such report"}
	if !ValidReportID(id) {
		return "", 0, notFound
	}
	tag, err := s.rdb.HGet(ctx, idemKey(id), "v").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", 0, s.fail(opReport, "report: find", err)
	}
	if err == nil {
		for p, t := range s.tags {
			if t == tag {
				return tag, p, nil
			}
		}
	}
	cmds := make([]*redis.IntCmd, len(s.tags))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, t := range s.tags {
			cmds[n] = p.Exists(ctx, reportKey(t, id))
		}
		return nil
	})
	if err != nil {
		return "", 0, s.fail(opReport, "report: find", err)
	}
	for n, c := range cmds {
		if c.Val() == 1 {
			return s.tags[n], n, nil
		}
	}
	return "", 0, notFound
}

// ReportStatus reads a report's forwarding status.
func (s *Store) ReportStatus(ctx context.Context, id string) (report.ReportStatus, error) {
	notFound := &report.Error{Code: report.CodeNotFound, Msg: "no such report"}
	tag, _, err := s.reportPartition(ctx, id)
	if err != nil {
		return report.ReportStatus{}, err
	}
	h, err := s.rdb.HGetAll(ctx, reportKey(tag, id)).Result()
	if err != nil {
		return report.ReportStatus{}, s.fail(opReport, "report status", err)
	}
	if len(h) == 0 {
		// Claimed but never counted (a crash between the two steps): the
		// client never got a 202 for it, so it does not exist yet.
		return report.ReportStatus{}, notFound
	}
	st := report.ReportStatus{
		ID: id, Status: report.Status(h["st"]), ReporterOrg: h["org"],
		PoliceReference: h["pref"], LastError: h["err"],
	}
	st.Attempts, _ = strconv.ParseInt(h["at"], 10, 64)
	if ms, err := strconv.ParseInt(h["rcv"], 10, 64); err == nil {
		st.ReceivedAt = time.UnixMilli(ms).UTC()
	}
	if ms, err := strconv.ParseInt(h["fwd"], 10, 64); err == nil && ms > 0 {
		t := time.UnixMilli(ms).UTC()
		st.ForwardedAt = &t
	}
	return st, nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.fail(opPing, "ping", err)
	}
	return nil
}
