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

	"github.com/go-redis/redis_rate/v10"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/outbox"
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
	// EventsMaxPerBank bounds each bank's event feed (events.max_per_bank,
	// default 1,000,000): beyond, the oldest events are trimmed first.
	EventsMaxPerBank int64
	// AlertRetention and EventRetention are how long a bank's alerts and
	// events are kept and served (alerts.retention, events.retention;
	// default 90 and 30 days).
	AlertRetention, EventRetention time.Duration
	// HolderOf names the bank org that holds an IBAN at intake ("" when no
	// registered bank does); it follows configuration reloads. Nil: no
	// report has a holder.
	HolderOf func(iban.IBAN) string
	// RespondWithin is the holder's deadline after acceptance (default 7 days).
	RespondWithin time.Duration
	// HalfLifeDays is the score's half-life (risk.half_life_days; 0: 90).
	HalfLifeDays float64
	// Reads is the client lookups read through: a cluster client with
	// ReadOnly set sends them to replicas. Nil: the main client. Reports'
	// own reads (GET /v1/reports/{id}, reviews) always use the main
	// client, so they see the master.
	Reads redis.UniversalClient
	Now   func() time.Time
}

// Store is the Redis-backed store: one service per concern, over one
// shared connection (conn), in wtf's shape. The gateway hands each part
// to what uses it (httpapi the reports, IBANs, feeds and limits; forward
// the outbox, breaker and feeds); Store embeds them all for wiring and
// for the operator commands.
type Store struct {
	*conn
	*Reports // intake, status and reviews of reports
	*IBANs   // lookups, the lookup log, markers, the threshold flag
	*Feeds   // the banks' alerts and events, the review backlog
	*Outbox  // forwarding to the police store and the holders' relay
	*Breaker // the police breaker's trips shared between processes
	*Limits  // rate limits, daily writes, stream slots
}

// The services: each a view of the shared connection.
type (
	Reports struct{ *conn }
	IBANs   struct{ *conn }
	Feeds   struct{ *conn }
	Outbox  struct{ *conn }
	Breaker struct{ *conn }
	Limits  struct{ *conn }
)

// conn is what every service shares: the client, the options, the
// pseudonym and sealing keys.
type conn struct {
	rdb  redis.UniversalClient
	opt  Options
	now  func() time.Time
	tags []string // "{p0}".."{pN-1}"
	// macs pools keyed HMAC states: building one per lookup costs more
	// than the rest of the pseudonym computation.
	macs    sync.Pool
	seal    *sealer     // encrypts the IBAN kept for a report's holder
	blobs   *blobSealer // seals outbox bodies and feed entries (sealblob.go)
	comb    *combiner   // intake's scripts combined, on a single Redis; nil on a cluster
	limiter *redis_rate.Limiter
	// reads is the lookups' client; ap its deferred autopipeliner, so
	// concurrent lookups share round trips (nil for a client without one).
	reads redis.UniversalClient
	ap    *redis.AutoPipeliner
	resp2 bool // reads speaks RESP2: a book is read into a slice (bookCmd)
	// OnError, if set, is told about every Redis failure (for metrics).
	OnError func(op string)
	// trimmed counts, per bank, events trimmed from its feed for its size.
	trimmed sync.Map // org -> *atomic.Int64
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
	if opt.HolderOf == nil {
		opt.HolderOf = func(iban.IBAN) string { return "" }
	}
	if opt.RespondWithin <= 0 {
		opt.RespondWithin = 7 * 24 * time.Hour
	}
	if opt.AlertRetention <= 0 {
		opt.AlertRetention = 90 * 24 * time.Hour
	}
	if opt.EventRetention <= 0 {
		opt.EventRetention = 30 * 24 * time.Hour
	}
	if opt.EventsMaxPerBank <= 0 {
		opt.EventsMaxPerBank = 1_000_000
	}
	if opt.Reads == nil {
		opt.Reads = rdb
	}
	s := &conn{rdb: rdb, opt: opt, now: opt.Now, limiter: redis_rate.NewLimiter(rdb), reads: opt.Reads,
		resp2: speaksRESP2(opt.Reads)}
	if _, single := rdb.(*redis.Client); single {
		s.comb = &combiner{s: s} // one Redis holds every slot: intake in one step (combine.go)
	}
	// The deferred face: a lookup queues its commands without waiting and
	// reads the answers, so its commands go out together, batched with
	// those of concurrent lookups. A client type without it (a Ring) reads
	// directly.
	if ap, err := opt.Reads.AsyncAutoPipeline(); err == nil {
		s.ap = ap
	}
	secret := opt.Secret
	var err error
	if s.seal, err = newSealer(secret); err != nil {
		return nil, err
	}
	if s.blobs, err = newBlobSealer(secret); err != nil {
		return nil, err
	}
	s.macs.New = func() any { return &mac{Hash: hmac.New(sha256.New, secret)} }
	for p := range opt.Partitions {
		s.tags = append(s.tags, "{p"+strconv.Itoa(p)+"}")
	}
	return &Store{conn: s, Reports: &Reports{s}, IBANs: &IBANs{s}, Feeds: &Feeds{s}, Outbox: &Outbox{s}, Breaker: &Breaker{s},
		Limits: &Limits{s}}, nil
}

// Partitions is the number of hash-tag partitions.
func (s *conn) Partitions() int { return s.opt.Partitions }

// Pseudonym returns the keyed pseudonym of an IBAN and its partition.
func (s *conn) Pseudonym(i iban.IBAN) (string, int) {
	m := s.macs.Get().(*mac)
	m.Reset()
	m.in = append(append(m.in[:0], "iban\x00"...), i.String()...) // one Write, no conversion per lookup
	m.Write(m.in)
	sum := m.Sum(m.sum[:0])
	part := int(binary.BigEndian.Uint32(sum[:4]) % uint32(s.opt.Partitions))
	var h [32]byte
	hex.Encode(h[:], sum[4:20])
	s.macs.Put(m)
	return string(h[:]), part
}

// mac is a pooled keyed HMAC state and a buffer for its input.
type mac struct {
	hash.Hash
	in  []byte
	sum [sha256.Size]byte // Sum's output: on the stack it escapes through the interface
}

// ReportID derives the report id from the submitting org and its
// Idempotency-Key, so retries of one request always name one report.
func (s *conn) ReportID(org, key string) string { return s.derivedID("report", org, key) }

// derivedID is HMAC(secret, kind, org, key), 128 bits in hex.
func (s *conn) derivedID(kind, org, key string) string {
	m := s.macs.Get().(*mac)
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
	tag, pseudo string // pseudo in hex, as domain.IBANKey has it
	part        int
}

func (s *conn) keysFor(i iban.IBAN) ibanKeys { return s.keysOf(s.KeyOf(i)) }

// keysOf names the keys of an IBAN known by its key.
func (s *conn) keysOf(k domain.IBANKey) ibanKeys {
	return ibanKeys{tag: s.tags[k.Partition], pseudo: k.Pseudonym, part: k.Partition}
}

// KeyOf is how the store knows an IBAN: its pseudonym and partition.
func (s *conn) KeyOf(i iban.IBAN) domain.IBANKey {
	p, part := s.Pseudonym(i)
	return domain.IBANKey{Pseudonym: p, Partition: part}
}

// book names the IBAN's book (record.go): its 16-byte pseudonym, not the
// hex, in the key name.
func (k ibanKeys) book() string {
	var buf [64]byte // one allocation per name: the read path names a book per lookup
	b, _ := hex.AppendDecode(appendBookPrefix(buf[:0], k.tag), []byte(k.pseudo))
	return string(b)
}

// rawPseudo is the pseudonym's 16 bytes.
func (k ibanKeys) rawPseudo() string {
	raw, _ := hex.DecodeString(k.pseudo)
	return string(raw)
}

func (k ibanKeys) lookupLog() string { return "mg:" + k.tag + ":a:" + k.pseudo }

func (s *conn) ttlSeconds() int64 {
	// Keys outlive the retention by a day so that trimming, not expiry,
	// is what retires a report from the counts.
	return int64((s.opt.Retention + 24*time.Hour) / time.Second)
}

// fingerprint is the keyed hash of a request's canonical bytes, kept in
// the idempotency record. Keyed, because the bytes hold an IBAN: an
// unkeyed hash of them could be inverted by hashing candidate IBANs.
func (s *conn) fingerprint(canonical []byte) string {
	return hex.EncodeToString(s.fingerprintSum(canonical))
}

// fingerprintSum is the fingerprint's bytes.
func (s *conn) fingerprintSum(canonical []byte) []byte {
	m := s.macs.Get().(*mac)
	defer s.macs.Put(m)
	m.Reset()
	m.Write([]byte("fingerprint\x00"))
	m.Write(canonical)
	return m.Sum(nil)
}

// Accept records a report in two steps that are each safe to repeat: claim
// the (org, Idempotency-Key) with the request's fingerprint, then count the
// report on its IBAN's slot; on a single Redis both run as one script,
// combined with concurrent reports (combine.go). It returns only after
// Redis acknowledged both (and, with WaitReplicas, after replicas did).
func (s *Reports) Accept(ctx context.Context, org string, orgType domain.OrgType, idemKeyValue string, sub domain.Submission) (domain.Accepted, error) {
	id := s.ReportID(org, idemKeyValue)
	raw := rawID(id)
	k := s.keysFor(sub.IBAN)
	// To the millisecond, as the report is stored: its status, the holder's
	// report.received and the police's received_at name the same instant.
	now := s.now().Truncate(time.Millisecond)
	claim := s.claimValue(sub.Canonical(), k.part, now)
	if s.comb == nil {
		cctx, end := span(ctx, "idempotency claim")
		err := s.claimReport(cctx, raw, claim, now)
		end(err)
		if err != nil {
			return domain.Accepted{}, err
		}
	}

	body, err := json.Marshal(outbox.NewPoliceReport(sub, id, org, orgType, now))
	if err != nil {
		return domain.Accepted{}, domain.Internal("accept report: encode", err)
	}
	rv := domain.NewReview(s.opt.HolderOf(sub.IBAN), now, s.opt.RespondWithin)
	r := record{Received: now, Category: sub.Category, Source: orgType, Org: org, Status: domain.StatusQueued,
		Holder: rv.Holder, RespondBy: rv.RespondBy, Review: rv.State}
	if sub.Amount != nil {
		r.Amount = *sub.Amount
	}
	chain, source := "", ""
	if c := sub.Chain; c != nil {
		r.Hop, r.Upstream, chain, source = c.Hop, c.Upstream, rawID(c.SourceID)+rawID(c.RootID)+c.RootReporter, c.SourceID
	}
	rec, _, err := r.encode()
	if err != nil {
		return domain.Accepted{}, domain.Internal("accept report: record", err)
	}
	head, mid, tail := splitRecord(rec)
	sealed := s.seal.seal(k.rawPseudo(), sub.IBAN)
	cutoff := now.Add(-s.opt.Retention).UnixMilli()
	keys := append([]string{k.book(), s.OutboxKey(k.part)}, indexBuckets(k.tag, raw)...)
	args := acceptArgs{ID: raw, Head: head, Mid: mid, Tail: tail, Now: now.UnixMilli(), Cutoff: cutoff, TTL: s.ttlSeconds(),
		Sealed: sealed, Body: s.blobs.seal(adOutbox(id), body), Wake: WakeChannel, Partition: k.part, Holder: rv.Holder,
		RespondBy: msOrZero(rv.RespondBy), IndexEntry: dayBytes(day(now)) + k.rawPseudo(), IndexFirstDay: day(now) - s.ttlDays(),
		BookPrefix: bookPrefix(k.tag), Pseudonym: k.pseudo, ReportID: id, TraceParent: traceParent(ctx), Chain: chain, Source: source}
	actx, end := span(ctx, "accept")
	var v any
	if s.comb != nil { // the claim in the same script, combined with concurrent reports
		v, err = s.comb.do(actx, append([]string{idemBucket(raw)}, keys...), append(s.claimArgs(raw, claim, now).argv(), args.argv()...))
	} else {
		v, err = s.runReplicated(actx, acceptScript, keys, args.argv()...)
	}
	end(err)
	if err != nil {
		return domain.Accepted{}, s.fail(opAccept, "accept report script "+sub.IBAN.Masked(), err)
	}
	out, err := redis.NewCmdResult(v, nil).Int64Slice()
	if err != nil || len(out) != 2 {
		return domain.Accepted{}, domain.Internal("accept report: parse", errUnexpected(v))
	}
	if out[0] < 0 {
		return domain.Accepted{}, keyReused()
	}
	return domain.Accepted{ID: id, IBAN: sub.IBAN, ReportCount: out[1], Replayed: out[0] == 0}, nil
}

// splitRecord splits an encoded record (with n and the holder empty)
// into the fields before n, those between n and the holder, and those
// after the holder: the accept script fills in n and the holder.
func splitRecord(rec string) (head, mid, tail string) {
	var f [nFields]string
	split(rec, f[:])
	return join(f[:fN]), strings.Join(f[fN+1:fHolder], sep), join(f[fHolder+1:])
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// ttlDays is the book's TTL in whole days, rounded up: how long the
// report index keeps an entry.
func (s *conn) ttlDays() int64 { return (s.ttlSeconds() + 86399) / 86400 }

// idemDays is how long, in whole days, a report's idempotency entry is
// kept: the idempotency TTL, and never less than the report lives.
func (s *conn) idemDays() int64 {
	ttl := max(s.opt.IdempotencyTTL, s.opt.Retention+24*time.Hour)
	return int64((ttl + 24*time.Hour - 1) / (24 * time.Hour))
}

// claimPlain is the claim in plain commands, one pipelined round trip on
// a connection of its own (not the shared autopipeliner: intake must fail
// fast when a master is down, not wait behind other callers' commands),
// costing Redis a fraction of a script: HSETNX decides who claimed first
// (the HGET after it, in the same pipeline, reads the winner's value). It answers "" when the script must
// decide instead: with wait_replicas (the script's WAIT covers it), when
// the bucket has entries past the idempotency TTL to drop (at most once
// a day per bucket), or when the id was claimed so long ago that its
// entry counts as absent.
func (s *conn) claimPlain(ctx context.Context, raw, value string, now time.Time) (string, error) {
	if s.opt.WaitReplicas > 0 {
		return "", nil
	}
	b := idemBucket(raw)
	before := day(now) - s.idemDays()
	set := redis.NewBoolCmd(ctx, "hsetnx", b, raw, value)
	got := redis.NewStringCmd(ctx, "hget", b, raw)
	marks := redis.NewSliceCmd(ctx, "hmget", b, "lo", "ex")
	cmds := []redis.Cmder{set, got, marks, redis.NewBoolCmd(ctx, "hsetnx", b, "lo", day(now))}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range cmds {
			_ = p.Process(ctx, c)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", err
	}
	var lo, ex string
	if m := marks.Val(); len(m) == 2 {
		lo, _ = m[0].(string)
		ex, _ = m[1].(string)
	}
	if l, err := strconv.ParseInt(lo, 10, 64); err == nil && l < before {
		return "", nil // aged-out entries to drop: the script does
	}
	// The bucket's TTL is renewed once a day ("ex": the day it last was),
	// not on every claim: a bucket lives a day longer than its entries.
	if today := strconv.FormatInt(day(now), 10); ex != today {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Expire(ctx, b, time.Duration(s.idemDays()+1)*24*time.Hour)
			p.HSet(ctx, b, "ex", today)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	v := got.Val()
	if set.Val() {
		return "new", nil
	}
	if len(v) < 10 || int64(v[0])<<8|int64(v[1]) < before {
		return "", nil
	}
	if v[2:10] != value[2:10] {
		return "conflict", nil
	}
	return "seen", nil
}

// claimArgs are a report's claim's arguments.
func (s *conn) claimArgs(raw, value string, now time.Time) claimReportArgs {
	return claimReportArgs{ID: raw, Entry: value, FirstDay: day(now) - s.idemDays(), TTL: (s.idemDays() + 1) * 86400}
}

// claimValue is a report's entry in its idempotency bucket: the day (2
// bytes), the request's keyed fingerprint (8 bytes: a reused key passes
// for the same request with a chance of 2^-64) and the IBAN's partition
// (1 byte, 2 with more than 256 partitions).
func (s *conn) claimValue(canonical []byte, part int, now time.Time) string {
	return s.claimEntry(day(now), s.fingerprintSum(canonical), part)
}

// claimEntry is claimValue's entry from its parts.
func (s *conn) claimEntry(d int64, fp []byte, part int) string {
	v := dayBytes(d) + string(fp[:claimFPLen])
	if s.opt.Partitions <= 256 {
		return v + string([]byte{byte(part)})
	}
	return v + string([]byte{byte(part >> 8), byte(part)})
}

// claimPart is the partition an idempotency entry names.
func claimPart(v string) (int, bool) {
	switch len(v) {
	case 11:
		return int(v[10]), true
	case 12:
		return int(binary.BigEndian.Uint16([]byte(v[10:12]))), true
	}
	return 0, false
}

// keyReused answers an Idempotency-Key used before with another request.
func keyReused() error {
	return &domain.Error{Code: domain.CodeConflict, Field: "Idempotency-Key",
		Msg: "this Idempotency-Key was already used with a different request"}
}

// claimReport is intake's first step on a cluster: it records the report
// id in its idempotency bucket (claimValue), or finds it recorded before.
// The same request again passes (the second step is itself safe to
// repeat); another request under the same key is a conflict.
func (s *conn) claimReport(ctx context.Context, raw, value string, now time.Time) error {
	res, err := s.claimPlain(ctx, raw, value, now)
	if res == "" && err == nil {
		var v any
		v, err = s.runReplicated(ctx, claimReportScript, []string{idemBucket(raw)}, s.claimArgs(raw, value, now).argv()...)
		res, _ = v.(string)
	}
	if err != nil {
		return s.fail(opAccept, "idempotency claim script", err)
	}
	if res == "conflict" {
		return keyReused()
	}
	return nil
}

// claim is the first step of every idempotent write: it records (org,
// Idempotency-Key) under key with the request's keyed fingerprint and a
// value, or finds it recorded before. The same request again passes (the
// second step is itself safe to repeat); another request under the same
// key is a conflict.
func (s *conn) claim(ctx context.Context, label op, key string, canonical []byte, value string, ttl time.Duration) error {
	res, err := s.runReplicated(ctx, claimKeyScript, []string{key},
		claimKeyArgs{Fingerprint: s.fingerprint(canonical), Value: value, TTL: int64(ttl / time.Second)}.argv()...)
	if err != nil {
		return s.fail(label, "idempotency claim script", err)
	}
	if res == "conflict" {
		return &domain.Error{Code: domain.CodeConflict, Field: "Idempotency-Key",
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
func (s *conn) runReplicated(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, error) {
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
		return nil, &domain.Error{Code: domain.CodeUnavailable,
			Msg: "the report store could not confirm replication in time; retry with the same Idempotency-Key",
			Err: fmt.Errorf("WAIT: %d of %d replicas acknowledged", n, s.opt.WaitReplicas)}
	}
	return res.Result()
}

// pipelined runs fill in one pipeline. Pipelined scripts go as EVALSHA
// only, so if Redis lost its script cache (a restart, a failover to a
// fresh replica) it loads every script and runs the pipeline once more;
// fill must therefore be safe to call twice.
func (s *conn) pipelined(ctx context.Context, fill func(p redis.Pipeliner) error) error {
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
func (s *conn) LoadScripts(ctx context.Context) error {
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

func msTime(v any) time.Time {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(f)).UTC()
}

// locate finds the book that holds a report: the idempotency entry names
// its partition and the partition's report index its IBAN. If the
// idempotency entry is gone (a failover lost it) every partition's index
// is asked, in one pipelined round trip per node: the IBAN's own keys
// are the truth, the idempotency entry is only a shortcut.
func (s *conn) locate(ctx context.Context, id string) (ibanKeys, error) {
	notFound := &domain.Error{Code: domain.CodeNotFound, Msg: "no such report"}
	raw := rawID(id)
	if !ValidReportID(id) || raw == "" {
		return ibanKeys{}, notFound
	}
	parts := make([]int, 0, len(s.tags))
	v, err := s.rdb.HGet(ctx, idemBucket(raw), raw).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return ibanKeys{}, s.fail(opReport, "report: find", err)
	}
	if p, ok := claimPart(v); ok && p < len(s.tags) {
		parts = append(parts, p)
	}
	tries := 2
	if !s.claimsCanBeLost() {
		// The idempotency entry outlives the report (retention + a day)
		// and cannot be lost while the report stays: an id it does not
		// name is unknown, at the cost of one command (not one per
		// partition).
		if len(parts) == 0 {
			return ibanKeys{}, notFound
		}
		tries = 1
	}
	for try := 0; try < tries; try++ {
		if try == 1 {
			parts = parts[:0]
			for p := range s.tags {
				parts = append(parts, p)
			}
		}
		// Every level of the index (keys.go): a report's entry is in one.
		cmds := make([]*redis.StringCmd, 0, len(parts)*indexLevels)
		_, err = s.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
			for _, p := range parts {
				for _, b := range indexBuckets(s.tags[p], raw) {
					cmds = append(cmds, pp.HGet(ctx, b, raw))
				}
			}
			return nil
		})
		if err := firstFailure(err, cmds); err != nil {
			return ibanKeys{}, s.fail(opReport, "report: find", err)
		}
		for n, c := range cmds {
			if v := c.Val(); len(v) == 18 {
				p := parts[n/indexLevels]
				return ibanKeys{tag: s.tags[p], part: p, pseudo: hex.EncodeToString([]byte(v[2:]))}, nil
			}
		}
	}
	return ibanKeys{}, notFound
}

// claimsCanBeLost says whether an idempotency entry can be lost while the
// report it names stays: only on a Redis Cluster without wait_replicas,
// where a failover of the entry's master can drop its last writes while
// the report's master keeps them. On one Redis every write is in one
// order (AOF, replication), and with wait_replicas the claim is
// replicated before the report is written.
func (s *conn) claimsCanBeLost() bool {
	_, cluster := s.rdb.(*redis.ClusterClient)
	return cluster && s.opt.WaitReplicas == 0
}

// ReportStatus reads a report: its forwarding status and its review.
func (s *Reports) ReportStatus(ctx context.Context, id string) (domain.ReportStatus, error) {
	st, _, _, err := s.readReport(ctx, id)
	return st, err
}

// ReportStatuses reads many reports, as ReportStatus does each, in three
// round trips whatever their number; one that is gone is nil.
func (s *Reports) ReportStatuses(ctx context.Context, ids []string) ([]*domain.ReportStatus, error) {
	return s.readReports(ctx, ids)
}

// readReport reads a report's record and own fields into its status, and
// returns the keys of its IBAN and the record as read (for the review
// script's compare and set).
func (s *conn) readReport(ctx context.Context, id string) (domain.ReportStatus, ibanKeys, bookRecord, error) {
	k, err := s.locate(ctx, id)
	if err != nil {
		return domain.ReportStatus{}, ibanKeys{}, bookRecord{}, err
	}
	vals, err := readFields(ctx, s.rdb, k, id).Result()
	if err != nil {
		return domain.ReportStatus{}, ibanKeys{}, bookRecord{}, s.fail(opReport, "report status", err)
	}
	st, rec, err := s.reportOf(k, id, vals)
	if err != nil {
		return domain.ReportStatus{}, ibanKeys{}, bookRecord{}, err
	}
	return st, k, rec, nil
}

// reportFields are the book's fields a report is read from: its record
// (the raw id), the book's head and clear, and the report's own fields
// (each prefix followed by the raw id).
var reportFields = []string{"", "j", "e:", "p:", "d:", "c:", "x:", "r:", "k:", "o:", "cl"}

// readFields queues the read of report id's fields from its book.
func readFields(ctx context.Context, c redis.Cmdable, k ibanKeys, id string) *redis.SliceCmd {
	raw := rawID(id)
	return c.HMGet(ctx, k.book(), raw, "j", "e:"+raw, "p:"+raw, "d:"+raw, "c:"+raw, "x:"+raw, "r:"+raw, "k:"+raw, "o:"+raw, "cl")
}

// reportOf decodes report id from the values readFields read.
func (s *conn) reportOf(k ibanKeys, id string, vals []any) (domain.ReportStatus, bookRecord, error) {
	raw := rawID(id)
	got := make(map[string]string, len(reportFields))
	for n, f := range reportFields {
		if f == "" {
			f = raw
		}
		if v, ok := vals[n].(string); ok {
			got[f] = v
		}
	}
	if got[raw] == "" {
		// Indexed but never recorded, or trimmed past retention: the
		// client has no report to see.
		return domain.ReportStatus{}, bookRecord{}, &domain.Error{Code: domain.CodeNotFound, Msg: "no such report"}
	}
	st, r, err := s.reportFrom(k, id, func(f string) string { return got[f] })
	if err != nil {
		return domain.ReportStatus{}, bookRecord{}, err
	}
	return st, bookRecord{core: got[raw], rec: r}, nil
}

// readReports reads reports as readReport does, in three pipelined
// round trips whatever their number (their idempotency claims, their
// entries in the report index, their fields), in the order given; one
// that is gone (past retention, or never was) is nil. On a Cluster
// whose claims can be lost, a report its claim does not lead to is
// looked for as readReport does, one at a time.
func (s *conn) readReports(ctx context.Context, ids []string) ([]*domain.ReportStatus, error) {
	keys, alone, err := s.locateAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	fields := make([]*redis.SliceCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
		for n, k := range keys {
			if k != nil {
				fields[n] = readFields(ctx, pp, *k, ids[n])
			}
		}
		return nil
	}); err != nil {
		return nil, s.fail(opReport, "report status", err)
	}
	out := make([]*domain.ReportStatus, len(ids))
	keep := func(n int, st domain.ReportStatus, err error) error {
		if err == nil {
			out[n] = &st
		}
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return nil
		}
		return err
	}
	for n, f := range fields {
		if f == nil {
			continue
		}
		st, _, err := s.reportOf(*keys[n], ids[n], f.Val())
		if err := keep(n, st, err); err != nil {
			return nil, err
		}
	}
	for _, n := range alone {
		st, _, _, err := s.readReport(ctx, ids[n])
		if err := keep(n, st, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// locateAll is locate for many reports in two pipelined round trips:
// the keys of each report found through its claim (nil for the others),
// and those that must be looked for alone (on a Cluster whose claims
// can be lost, the ones with no claim or a claim that did not lead to
// them).
func (s *conn) locateAll(ctx context.Context, ids []string) (keys []*ibanKeys, alone []int, err error) {
	claims := make([]*redis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
		for n, id := range ids {
			if raw := rawID(id); ValidReportID(id) && raw != "" {
				claims[n] = pp.HGet(ctx, idemBucket(raw), raw)
			}
		}
		return nil
	})
	if err := firstFailure(err, claims); err != nil {
		return nil, nil, s.fail(opReport, "report: find", err)
	}
	parts, index := make([]int, len(ids)), make([][]*redis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(pp redis.Pipeliner) error {
		for n, c := range claims {
			if p, ok := claimPart(claimOf(c)); ok && p < len(s.tags) {
				parts[n] = p
				raw := rawID(ids[n])
				for _, b := range indexBuckets(s.tags[p], raw) {
					index[n] = append(index[n], pp.HGet(ctx, b, raw))
				}
			}
		}
		return nil
	})
	for _, cmds := range index {
		if err := firstFailure(err, cmds); err != nil {
			return nil, nil, s.fail(opReport, "report: find", err)
		}
	}
	keys = make([]*ibanKeys, len(ids))
	for n := range ids {
		for _, c := range index[n] {
			if v := c.Val(); len(v) == 18 {
				keys[n] = &ibanKeys{tag: s.tags[parts[n]], part: parts[n], pseudo: hex.EncodeToString([]byte(v[2:]))}
				break
			}
		}
		if keys[n] == nil && claims[n] != nil && s.claimsCanBeLost() {
			alone = append(alone, n)
		}
	}
	return keys, alone, nil
}

// firstFailure is the first error of cmds other than "no such field",
// or the pipeline's error pipeErr when that is not one. Pipelined
// reports only its first command's error: a miss (redis.Nil) ahead of a
// failure would hide it, and the report the failure was about would be
// taken for gone.
func firstFailure(pipeErr error, cmds []*redis.StringCmd) error {
	if pipeErr == nil {
		return nil
	}
	if !errors.Is(pipeErr, redis.Nil) {
		return pipeErr
	}
	for _, c := range cmds {
		if c == nil {
			continue
		}
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// claimOf is an idempotency claim as read ("" for none).
func claimOf(c *redis.StringCmd) string {
	if c == nil {
		return ""
	}
	return c.Val()
}

// reportFrom decodes report id from its book's fields: get(raw) is its
// record, get("j") and get("cl") the book's, and get("e:") … get("o:")
// the report's own (the prefix alone names them).
func (s *conn) reportFrom(k ibanKeys, id string, get func(field string) string) (domain.ReportStatus, record, error) {
	raw := rawID(id)
	holder, sealed := splitHead(get("j"))
	r, err := decodeRecord(get(raw), get("x:"), holder)
	if err != nil {
		return domain.ReportStatus{}, r, domain.Internal("report status: "+id, err)
	}
	st := r.status(id)
	st.LastError = get("e:")
	if r.RefSpilled {
		st.PoliceReference = get("p:")
	}
	st.Review.Details, st.Review.CancelReason = get("d:"), get("c:")
	if c := get("k:"); len(c) >= 2*rawIDLen && r.Hop > 0 {
		st.Chain = &domain.ChainLink{SourceID: hex.EncodeToString([]byte(c[:rawIDLen])), RootID: hex.EncodeToString([]byte(c[rawIDLen : 2*rawIDLen])),
			RootReporter: c[2*rawIDLen:], Hop: r.Hop, Upstream: r.Upstream}
	}
	if cl := parseClear(get("cl"), ""); cl.Covers(r.Received.UnixMilli()) {
		st.Cleared = cl
	}
	for kids := get("o:"); len(kids) >= rawIDLen; kids = kids[rawIDLen:] {
		st.Children = append(st.Children, hex.EncodeToString([]byte(kids[:rawIDLen])))
	}
	if sealed != "" {
		st.IBAN, err = s.seal.open(k.rawPseudo(), sealed)
	}
	if rv := get("r:"); err == nil && rv != "" {
		var b []byte
		if b, err = s.blobs.open(adRecovery(id), rv); err == nil {
			st.Recovery, err = decodeRecovery(b)
		}
	}
	if err != nil {
		return domain.ReportStatus{}, r, domain.Internal("report status: "+id, err)
	}
	return st, r, nil
}

// bookRecord is a record as read: its core as stored (for compare and
// set) and decoded.
type bookRecord struct {
	core string
	rec  record
}

// status is what GET /v1/reports/{id} shows of a record (the free texts
// are the caller's to add).
func (r record) status(id string) domain.ReportStatus {
	st := domain.ReportStatus{
		ID: id, Status: r.Status, Attempts: r.Attempts, ReceivedAt: r.Received, PoliceReference: r.PoliceRef,
		ReporterOrg: r.Org, ReporterType: r.Source, Category: r.Category, Amount: r.Amount,
		Review: domain.Review{State: r.Review, Holder: r.Holder, ReceivedAt: r.Received, RespondBy: r.RespondBy,
			AcknowledgedAt: r.Ack, ClosedAt: r.Closed, CancelledAt: r.Cancels, Result: r.Result, FraudType: r.FraudType},
	}
	if !r.Forwarded.IsZero() {
		t := r.Forwarded
		st.ForwardedAt = &t
	}
	if st.Review.State == "" {
		st.Review.State = domain.ReviewUnrouted
	}
	return st
}

// sealIBAN seals a review event's IBAN for the holder's feed ("" stays
// "": no holder, no IBAN).
func (s *conn) sealIBAN(reportID, i string) string {
	if i == "" {
		return ""
	}
	return s.blobs.seal(adIBAN(reportID), []byte(i))
}

// errUnexpected describes a script reply of a shape we did not expect.
func errUnexpected(v any) error { return fmt.Errorf("unexpected reply %T", v) }

var errTooManyChanges = errors.New("the record changed five times while applying one action")

func formatMs(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// Ping checks that Redis answers.
func (s *conn) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.fail(opPing, "ping", err)
	}
	return nil
}
