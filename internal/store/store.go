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
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
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
	// HolderOf names the bank org that holds an IBAN at intake ("" when no
	// registered bank does); it follows configuration reloads. Nil: no
	// report has a holder.
	HolderOf func(iban.IBAN) string
	// RespondWithin is the holder's deadline after acceptance (default 7 days).
	RespondWithin time.Duration
	// Reads is the client lookups read through: a cluster client with
	// ReadOnly set sends them to replicas. Nil: the main client. Reports'
	// own reads (GET /v1/reports/{id}, reviews) always use the main
	// client, so they see the master.
	Reads redis.UniversalClient
	Now   func() time.Time
}

// Store is the Redis-backed report store.
type Store struct {
	rdb  redis.UniversalClient
	opt  Options
	now  func() time.Time
	tags []string // "{p0}".."{pN-1}"
	// macs pools keyed HMAC states: building one per lookup costs more
	// than the rest of the pseudonym computation.
	macs    sync.Pool
	seal    *sealer // encrypts the IBAN kept for a report's holder
	limiter *redis_rate.Limiter
	// reads is the lookups' client; ap its deferred autopipeliner, so
	// concurrent lookups share round trips (nil for a client without one).
	reads redis.UniversalClient
	ap    *redis.AutoPipeliner
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
	if opt.HolderOf == nil {
		opt.HolderOf = func(iban.IBAN) string { return "" }
	}
	if opt.RespondWithin <= 0 {
		opt.RespondWithin = 7 * 24 * time.Hour
	}
	if opt.Reads == nil {
		opt.Reads = rdb
	}
	s := &Store{rdb: rdb, opt: opt, now: opt.Now, limiter: redis_rate.NewLimiter(rdb), reads: opt.Reads}
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

func (s *Store) keysFor(i iban.IBAN) ibanKeys { return s.keysOf(s.KeyOf(i)) }

// keysOf names the keys of an IBAN known by its key.
func (s *Store) keysOf(k report.IBANKey) ibanKeys {
	return ibanKeys{tag: s.tags[k.Partition], pseudo: k.Pseudonym, part: k.Partition}
}

// KeyOf is how the store knows an IBAN: its pseudonym and partition.
func (s *Store) KeyOf(i iban.IBAN) report.IBANKey {
	p, part := s.Pseudonym(i)
	return report.IBANKey{Pseudonym: p, Partition: part}
}

func (k ibanKeys) counters() string  { return "mg:" + k.tag + ":i:" + k.pseudo }
func (k ibanKeys) reporters() string { return "mg:" + k.tag + ":o:" + k.pseudo }
func (k ibanKeys) index() string     { return "mg:" + k.tag + ":z:" + k.pseudo }
func (k ibanKeys) reviews() string   { return "mg:" + k.tag + ":v:" + k.pseudo }
func (k ibanKeys) cancelled() string { return "mg:" + k.tag + ":x:" + k.pseudo }
func (k ibanKeys) marker() string    { return "mg:" + k.tag + ":m:" + k.pseudo }
func (k ibanKeys) threshold() string { return "mg:" + k.tag + ":t:" + k.pseudo }
func (k ibanKeys) lookupLog() string { return "mg:" + k.tag + ":a:" + k.pseudo }

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
	member := indexMember(id, string(sub.Category), string(orgType), org)
	cutoff := now.Add(-s.opt.Retention).UnixMilli()
	rv := report.NewReview(s.opt.HolderOf(sub.IBAN), now, s.opt.RespondWithin)
	sealed, err := s.seal.seal(id, sub.IBAN.String())
	if err != nil {
		return report.Accepted{}, report.Internal("accept report: encrypt", err)
	}
	v, err := s.runReplicated(ctx, acceptScript,
		[]string{k.counters(), k.reporters(), k.index(), k.reviews(), k.cancelled(), reportKey(k.tag, id), s.OutboxKey(k.part)},
		id, now.UnixMilli(), member, org, cutoff, s.ttlSeconds(), string(sub.Category), string(orgType), body,
		WakeChannel, k.part, rv.Holder, msOrZero(rv.RespondBy), string(rv.State), k.pseudo, sealed,
	)
	if err != nil {
		return report.Accepted{}, s.fail(opAccept, "accept report script "+sub.IBAN.Masked(), err)
	}
	out, err := redis.NewCmdResult(v, nil).Int64Slice()
	if err != nil || len(out) != 2 {
		return report.Accepted{}, report.Internal("accept report: parse", errUnexpected(v))
	}
	return report.Accepted{ID: id, IBAN: sub.IBAN, ReportCount: out[1], Replayed: out[0] == 0}, nil
}

// indexMember is a report's member in its IBAN's time index: it carries
// what trimming and cancelling need to take it off the counts.
func indexMember(id, category, source, org string) string {
	return id + "|" + category + "|" + source + "|" + org
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
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

// windows are the retention cutoff at now and the starts of the
// statistics windows (never before the cutoff), in ms.
func (s *Store) windows(now time.Time) (cutoff int64, starts [len(report.WindowDays)]int64) {
	cutoff = now.Add(-s.opt.Retention).UnixMilli()
	for w, d := range report.WindowDays {
		starts[w] = max(cutoff, now.Add(-time.Duration(d)*24*time.Hour).UnixMilli())
	}
	return cutoff, starts
}

// lookupArgs are lookupScript's keys and arguments.
func (s *Store) lookupArgs(k ibanKeys) ([]string, []any) {
	cutoff, starts := s.windows(s.now())
	args := []any{cutoff}
	for _, st := range starts {
		args = append(args, st)
	}
	return []string{k.counters(), k.reporters(), k.index(), k.reviews(), k.cancelled(), k.marker()}, args
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
		return report.Counts{}, report.Internal("lookup: parse", errUnexpected(v))
	}
	if len(v) < 4 {
		return bad()
	}
	n, ok := v[0].(int64)
	if !ok {
		return bad()
	}
	if n == 0 {
		c.Cancelled, _ = v[1].(int64)
		c.Watermark = msTime(v[2])
		c.Marker = parseMarker(v[3])
		return c, nil
	}
	if len(v) != 16 {
		return bad()
	}
	c.ReportCount = n
	c.ReporterCount, _ = v[1].(int64)
	c.First, c.Last = msTime(v[2]), msTime(v[3])
	fields, _ := v[4].([]any)
	for j := 0; j+1 < len(fields); j += 2 {
		name, _ := fields[j].(string)
		val, _ := strconv.ParseInt(fmt.Sprint(fields[j+1]), 10, 64)
		addCounter(&c, name, val)
	}
	c.Cancelled, _ = v[5].(int64)
	c.Watermark = msTime(v[6])
	c.Marker = parseMarker(v[7])
	for w := range c.Windows {
		c.Windows[w].Reports, _ = v[8+2*w].(int64)
		c.Windows[w].Reporters, _ = v[9+2*w].(int64)
	}
	c.Last30Days = c.Windows[1].Reports
	return c, nil
}

// parseMarker reads a marker hash from a script reply (nil when there
// is none).
func parseMarker(v any) *report.Marker {
	fields, _ := v.([]any)
	h := make(map[string]string, len(fields)/2)
	for j := 0; j+1 < len(fields); j += 2 {
		k, _ := fields[j].(string)
		val, _ := fields[j+1].(string)
		h[k] = val
	}
	return markerFrom(h)
}

func msTime(v any) time.Time {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
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

// ReportStatus reads a report: its forwarding status and its review.
func (s *Store) ReportStatus(ctx context.Context, id string) (report.ReportStatus, error) {
	st, _, err := s.readReport(ctx, id)
	return st, err
}

// readReport reads a report's hash into its status and the keys of its
// IBAN (for the review script).
func (s *Store) readReport(ctx context.Context, id string) (report.ReportStatus, ibanKeys, error) {
	tag, part, err := s.reportPartition(ctx, id)
	if err != nil {
		return report.ReportStatus{}, ibanKeys{}, err
	}
	h, err := s.rdb.HGetAll(ctx, reportKey(tag, id)).Result()
	if err != nil {
		return report.ReportStatus{}, ibanKeys{}, s.fail(opReport, "report status", err)
	}
	if len(h) == 0 {
		// Claimed but never counted (a crash between the two steps): the
		// client never got a 202 for it, so it does not exist yet.
		return report.ReportStatus{}, ibanKeys{}, &report.Error{Code: report.CodeNotFound, Msg: "no such report"}
	}
	st := report.ReportStatus{
		ID: id, Status: report.Status(h["st"]), ReporterOrg: h["org"], ReporterType: report.OrgType(h["src"]), Category: report.Category(h["cat"]),
		PoliceReference: h["pref"], LastError: h["err"], ReceivedAt: msTime(h["rcv"]),
	}
	st.Attempts, _ = strconv.ParseInt(h["at"], 10, 64)
	if t := msTime(h["fwd"]); !t.IsZero() {
		st.ForwardedAt = &t
	}
	if h["ie"] != "" {
		if st.IBAN, err = s.seal.open(id, h["ie"]); err != nil {
			return report.ReportStatus{}, ibanKeys{}, report.Internal("report status: "+id, err)
		}
	}
	st.Review = reviewFrom(h, st.ReceivedAt)
	return st, ibanKeys{tag: tag, pseudo: h["ps"], part: part}, nil
}

// reviewFrom reads the review fields of a report hash. A report accepted
// before reviews existed has no state: it is treated as unrouted.
func reviewFrom(h map[string]string, received time.Time) report.Review {
	r := report.Review{
		State: report.ReviewState(h["rv"]), Holder: h["h"], ReceivedAt: received, RespondBy: msTime(h["rb"]),
		AcknowledgedAt: msTime(h["ack"]), ClosedAt: msTime(h["cls"]), CancelledAt: msTime(h["can"]),
		Result: report.Result(h["res"]), FraudType: report.FraudType(h["ft"]), Details: h["det"], CancelReason: h["cr"],
	}
	if r.State == "" {
		r.State = report.ReviewUnrouted
	}
	return r
}

// Review applies a review action (acknowledge, close, cancel) for caller.
// The domain decides (report.Review.Apply); the store applies the result
// atomically on the IBAN's slot if nobody changed the review meanwhile,
// and otherwise reads it again and decides again. changed is false for a
// repeat of an action already applied.
func (s *Store) Review(ctx context.Context, id string, caller report.Caller, req report.Request) (st report.ReportStatus, changed bool, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		var k ibanKeys
		if st, k, err = s.readReport(ctx, id); err != nil {
			return st, false, err
		}
		if k.pseudo == "" { // accepted before reviews existed: not reviewable
			return st, false, &report.Error{Code: report.CodeInvalidState, Field: "state", Msg: "the report's review is unrouted"}
		}
		now := s.now()
		next, changed, err := st.Review.Apply(st.PartiesOf(caller), req, now)
		if err != nil || !changed {
			return st, false, err
		}
		event, err := json.Marshal(newPoliceEvent(id, caller.Org, next, req))
		if err != nil {
			return st, false, report.Internal("review: encode", err)
		}
		args := []any{id, string(st.Review.State), next.Bucket(), boolArg(req.Action == report.ActionCancel),
			indexMember(id, string(st.Category), string(st.ReporterType), st.ReporterOrg), st.ReceivedAt.UnixMilli(),
			now.UnixMilli(), id + ":" + policeEventName(req.Action), event, WakeChannel, k.part,
			st.Review.Holder, policeEventName(req.Action), st.IBAN}
		args = append(args, reviewFields(next)...)
		v, err := s.runReplicated(ctx, reviewScript,
			[]string{reportKey(k.tag, id), k.counters(), k.reporters(), k.index(), k.reviews(), k.cancelled(), s.OutboxKey(k.part)}, args...)
		if err != nil {
			return st, false, s.fail(opReport, "review script", err)
		}
		if n, _ := v.(int64); n == 1 {
			st.Review = next
			return st, true, nil
		}
	}
	return st, false, report.Unavailable("review", errTooManyChanges)
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

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// reviewFields are the report hash fields of a review.
func reviewFields(r report.Review) []any {
	return []any{"rv", string(r.State), "ack", msOrZero(r.AcknowledgedAt), "cls", msOrZero(r.ClosedAt),
		"can", msOrZero(r.CancelledAt), "res", string(r.Result), "ft", string(r.FraudType), "det", r.Details, "cr", r.CancelReason}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.fail(opPing, "ping", err)
	}
	return nil
}
