package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/iban"
)

// recordingAuditor keeps the entries it is given; fail makes it refuse.
type recordingAuditor struct {
	mu      sync.Mutex
	entries []AuditEntry
	fail    bool // Audit refuses
	broken  bool // Healthy is false
	refused int
}

func (a *recordingAuditor) Audit(e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("disk full")
	}
	a.entries = append(a.entries, e)
	return nil
}
func (a *recordingAuditor) Healthy() bool { a.mu.Lock(); defer a.mu.Unlock(); return !a.broken }
func (a *recordingAuditor) Refused()      { a.mu.Lock(); a.refused++; a.mu.Unlock() }

// auditedEngine is the API's outer middleware (as NewAPI orders it) over
// a few test routes.
func auditedEngine(a Auditor) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key := func(i iban.IBAN) domain.IBANKey { return domain.IBANKey{Pseudonym: "p"} }
	r.Use(withRequestID(log), recovery(), accessLog(nil), auditTrail(a, key, nil, map[routeKey]string{}, nil, nil))
	r.GET("/v1/boom", func(c *gin.Context) { panic("boom") })
	r.GET("/v1/ok", func(c *gin.Context) { c.JSON(200, gin.H{"ok": true}) })
	r.GET("/v1/silent", func(c *gin.Context) {})
	return r
}

// TestPanickingHandlerIsAudited (issue 21.3): the 500 of a handler that
// panics has its record (recovery sat outside the audit middleware).
func TestPanickingHandlerIsAudited(t *testing.T) {
	a := &recordingAuditor{}
	srv := httptest.NewServer(auditedEngine(a))
	defer srv.Close()
	for _, c := range []struct {
		path   string
		status int
	}{{"/v1/boom", 500}, {"/v1/ok", 200}, {"/v1/silent", 200}} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.path, resp.StatusCode, c.status)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) != 3 || a.entries[0].Status != 500 || a.entries[1].Status != 200 || a.entries[2].Status != 200 {
		t.Errorf("records: %+v", a.entries)
	}
}

// TestUnwritableRecordIsA503 (issue 21.3): an answer whose record the sink
// refuses becomes 503 store_unavailable (the handler's body never
// leaves), and while the sink is broken requests are refused at once.
func TestUnwritableRecordIsA503(t *testing.T) {
	a := &recordingAuditor{}
	srv := httptest.NewServer(auditedEngine(a))
	defer srv.Close()
	for n := range 2 {
		a.mu.Lock()
		a.fail, a.broken = true, n == 1 // first the write fails, then the sink is known broken
		a.mu.Unlock()
		resp, err := http.Get(srv.URL + "/v1/ok")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || string(body) == `{"ok":true}` || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("with a broken sink: %d %s", resp.StatusCode, body)
		}
	}
	if a.refused != 1 {
		t.Errorf("%d requests counted as refused at the door, want 1", a.refused)
	}
}
