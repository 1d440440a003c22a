package client

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// countingListener counts the writes and bytes of the connections it
// accepts, below TLS: what the server's system calls carry.
type countingListener struct {
	net.Listener
	writes, bytes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return &countingConn{Conn: c, l: l}, err
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	c.l.bytes.Add(int64(len(p)))
	return c.Conn.Write(p)
}

// TestBatchAnswerInFullRecords: the client's transport reads HTTP/2
// frames of up to 1 MiB, so the gateway sends a batch answer of 700 kB
// in full TLS records, about one write each. With Go's default 16 KiB
// frames (a plain transport, also measured here) each frame is a full
// record and a 9-byte one: twice the writes. The answer is read whole.
func TestBatchAnswerInFullRecords(t *testing.T) {
	const n = 1000
	var results []string
	for k := range n {
		results = append(results, fmt.Sprintf(`{"iban":"NL%02dABNA%010d","report_count":2,"risk":"low","padding":%q}`, k%100, k,
			strings.Repeat("x", 620)))
	}
	half := strings.Join(results[:n/2], ",")
	rest := "," + strings.Join(results[n/2:], ",") + "]}"
	size := len(`{"results":[`) + len(half) + len(rest)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for _, piece := range []string{`{"results":[`, half, rest} { // as the gateway writes it: a few large pieces
			_, _ = w.Write([]byte(piece))
		}
	}))
	l := &countingListener{Listener: srv.Listener}
	srv.Listener = l
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tc := srv.Client().Transport.(*http.Transport).TLSClientConfig
	ibans := make([]string, n)
	for k := range ibans {
		ibans[k] = "NL91ABNA0417164300"
	}
	writesPerRecord := func(tr *http.Transport) float64 {
		t.Helper()
		c, err := New(Config{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tr}, Token: StaticToken("tok"), MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.LookupMany(context.Background(), ibans[:1]); err != nil { // the connection and its handshake
			t.Fatal(err)
		}
		w0, b0 := l.writes.Load(), l.bytes.Load()
		got, err := c.LookupMany(context.Background(), ibans)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n || got[n-1].Lookup == nil || got[n-1].Lookup.ReportCount != 2 {
			t.Fatalf("%d results, the last %+v", len(got), got[n-1])
		}
		writes, bytes := l.writes.Load()-w0, l.bytes.Load()-b0
		records := float64(bytes) / (16384 + 22) // TLS 1.3 records of 16 KiB and their overhead
		t.Logf("%d writes, %d bytes: %.2f writes per record", writes, bytes, float64(writes)/records)
		return float64(writes) / records
	}
	if got := writesPerRecord(newTransport(tc)); got > 1.2 {
		t.Errorf("the client's transport: %.2f writes per full TLS record of the answer, want about 1", got)
	}
	plain := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
	if got := writesPerRecord(plain); got < 1.6 {
		t.Errorf("a plain Go transport (16 KiB frames): %.2f writes per record, expected about 2 (the test no longer tells the two apart)", got)
	}
}
