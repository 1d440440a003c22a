package httpapi

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mulegate/mulegate/internal/waitfor"
)

// TestRefusalsWhileDrainingAreAudited: a request refused at once after
// the shutdown began (the refused-request gate's periodic writer has
// written its last aggregate) is in the aggregate that the work NewAPI
// hands to Deps.AtDrain writes: every refused request is accounted for.
func TestRefusalsWhileDrainingAreAudited(t *testing.T) {
	a := &recordingAuditor{}
	done := make(chan struct{})
	var atDrain []func()
	d := testDeps(&fakeStore{})
	d.Audit, d.RefusedPerSecond, d.RefusedBurst = a, 1, 1
	d.Done, d.AtDrain = done, func(w func()) { atDrain = append(atDrain, w) }
	api := NewAPI(d)
	leaf := &x509.Certificate{Raw: []byte("client certificate")}
	refuse := func() int {
		req := httptest.NewRequest("GET", "/v1/ibans/NL91ABNA0417164300", nil)
		req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}
		req.Header.Set("Authorization", "Bearer not-a-token")
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec.Code
	}
	codes := map[int]int{}
	for range 3 { // the budget of one refusal, then refused at once
		codes[refuse()]++
	}
	suppressed := func() (n int64) {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, e := range a.entries {
			if e.Action == "refused.suppressed" {
				n += e.Count
			}
		}
		return n
	}
	close(done)
	waitfor.Until(t, "the gate's last periodic aggregate", 5*time.Second, func() bool { return suppressed() == int64(codes[http.StatusTooManyRequests]) })
	codes[refuse()]++ // a request still draining
	for _, w := range atDrain {
		w()
	}
	if codes[http.StatusUnauthorized] != 1 || codes[http.StatusTooManyRequests] != 3 {
		t.Fatalf("answers %v: want one 401, then 429s", codes)
	}
	if got := suppressed(); got != 3 {
		t.Errorf("%d refusals in aggregate records, want all 3 answered 429 (the last while draining)", got)
	}
}
