package store

import (
	"context"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/iban"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/report"
	"github.com/redis/go-redis/v9"
)

// TestPlainReadGuards: a lookup's plain reads are taken as the answer
// only when no write landed between its first and last command (the
// counters' "ver" is the same in both) and no report past retention is
// still counted; otherwise the lookup is read again atomically.
func TestPlainReadGuards(t *testing.T) {
	t.Parallel()
	reads := func(verFirst, verLast string, expired int64) *readCmds {
		r := &readCmds{
			counters:  redis.NewMapStringStringResult(map[string]string{"c:phishing": "2", "s:bank": "2", "ver": verFirst, "wm": "1700000000000"}, nil),
			marker:    redis.NewMapStringStringResult(map[string]string{}, nil),
			reporters: redis.NewIntResult(1, nil), live: redis.NewIntResult(2, nil), expired: redis.NewIntResult(expired, nil),
			cancelled: redis.NewIntResult(0, nil),
			first:     redis.NewZSliceCmdResult([]redis.Z{{Score: 1.7e12, Member: "a|phishing|bank|o1"}}, nil),
			last:      redis.NewZSliceCmdResult([]redis.Z{{Score: 1.7e12 + 5, Member: "b|phishing|bank|o1"}}, nil),
			recent:    redis.NewZSliceCmdResult([]redis.Z{{Score: 1.7e12, Member: "a|phishing|bank|o1"}, {Score: 1.7e12 + 5, Member: "b|phishing|bank|o1"}}, nil),
			ver:       redis.NewStringResult(verLast, nil),
		}
		return r
	}
	if c, ok := reads("3", "3", 0).counts(); !ok || c.ReportCount != 2 || c.ByCategory["phishing"] != 2 || c.Windows[3].Reports != 2 || c.Windows[3].Reporters != 1 {
		t.Errorf("consistent reads: ok %v, counts %+v", ok, c)
	}
	if _, ok := reads("3", "4", 0).counts(); ok {
		t.Error("a write between the first and the last read was taken as an answer")
	}
	if _, ok := reads("3", "3", 1).counts(); ok {
		t.Error("an expired report still in the counters was taken as an answer")
	}
}

// TestLookupHonoursTheDeadline: the autopipeliner runs queued commands
// on its own context, so a Redis that accepts and never answers must
// still give the caller an unavailable lookup when its deadline passes,
// not after the client's read timeout.
func TestLookupHonoursTheDeadline(t *testing.T) {
	srv := redistest.Start(t)
	st, err := New(srv.Client(t), Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	i, _ := iban.Parse("NL91ABNA0417164300")
	if _, err := st.Lookup(context.Background(), i); err != nil {
		t.Fatal(err)
	}
	resume := srv.Freeze(t)
	defer resume()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = st.Lookup(ctx, i)
	if took := time.Since(start); report.ErrorCode(err) != report.CodeUnavailable || took > 2*time.Second {
		t.Errorf("lookup on a frozen Redis: %v after %v, want unavailable at the 300 ms deadline", err, took)
	}
}
