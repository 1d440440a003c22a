package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
)

func requestID(c *gin.Context) string { return stateOf(c).id }

// logger is the request's logger: every line carries the request id.
// It is made when first asked for (slog's With costs an encoding of the
// attribute), which most requests never do: the access log line adds the
// id itself.
func logger(c *gin.Context) *slog.Logger {
	st := stateOf(c)
	if st.reqLog != nil {
		return st.reqLog
	}
	l := baseLogger(c)
	if st.id != "" {
		l = l.With("request_id", st.id)
	}
	st.reqLog = l
	return l
}

func baseLogger(c *gin.Context) *slog.Logger {
	if l := stateOf(c).log; l != nil {
		return l
	}
	return slog.Default()
}

func principal(c *gin.Context) auth.Principal { return stateOf(c).principal }

// recovery turns a panic into a 500 problem; the stack goes to the log,
// never to the client.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(r)
				}
				logger(c).Error("panic", "panic", fmt.Sprint(r))
				writeProblem(c, fmt.Errorf("panic: %v", r))
			}
		}()
		c.Next()
	}
}

// saneRequestID accepts a caller's X-Request-ID only if it is a short
// token of safe characters, so it can go into logs and headers as is.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// withRequestID sets X-Request-ID on every response.
func withRequestID(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		var id string
		if v := c.Request.Header["X-Request-Id"]; len(v) > 0 { // X-Request-ID, canonical: Get would canonicalise it per request
			id = v[0]
		}
		if !saneRequestID(id) {
			id = newRequestID()
		}
		st := stateOf(c)
		st.id, st.log = id, log // logger(c) adds the request id
		st.idHeader[0] = id
		c.Writer.Header()["X-Request-Id"] = st.idHeader[:] // Header.Set's canonical key, without its work
		c.Next()
	}
}

// accessLog writes one JSON line per request with the route template, never
// the raw path (it may hold an IBAN), the masked IBAN if a handler set one,
// and never the Authorization header. It also feeds the metrics.
func accessLog(m *Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := routeOf(c)
		status := c.Writer.Status()
		elapsed := time.Since(start)
		if m != nil {
			m.observe(route, c.Request.Method, status, elapsed)
			if status == 401 || status == 403 {
				m.authFailures.WithLabelValues(strconv.Itoa(status), stateOf(c).problem).Inc()
			}
		}
		l := baseLogger(c)
		if stateOf(c).suppressed || !l.Enabled(c.Request.Context(), slog.LevelInfo) {
			return // a suppressed refusal is in its certificate's aggregate line
		}
		attrs := make([]slog.Attr, 0, 10)
		if id := requestID(c); id != "" {
			attrs = append(attrs, slog.String("request_id", id)) // where logger(c)'s With puts it
		}
		attrs = append(attrs,
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		)
		if p := principal(c); p.Org.ID != "" {
			attrs = append(attrs, slog.String("org", p.Org.ID), slog.String("sub", p.Subject))
		}
		st := stateOf(c)
		if v := st.iban; v.String() != "" {
			attrs = append(attrs, slog.String("iban", v.Masked()))
		}
		if v := st.problem; v != "" {
			attrs = append(attrs, slog.String("problem", v))
		}
		l.LogAttrs(c.Request.Context(), slog.LevelInfo, "request", attrs...)
	}
}

// clientCert takes the caller's identity from the verified chain (never
// from PeerCertificates, which is only what the client sent) and keeps its
// RFC 8705 thumbprint for the token check. The thumbprint is computed once
// per connection: a TLS connection's verified chain cannot change (the
// server allows no renegotiation).
func clientCert(srv *ServerTLS) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := certOf(c)
		if id == nil {
			writeProblem(c, newAPIError(http.StatusUnauthorized, "unauthenticated", "a verified client certificate is required"))
			return
		}
		// A reload may have revoked the certificate (CRL) or removed its
		// CA since this connection's handshake: checked on the first
		// request after each reload, however long the connection is open.
		ci, _ := c.Request.Context().Value(connKey{}).(*connIdentity)
		if !srv.stillValid(ci, c.Request.TLS.VerifiedChains) {
			c.Header("Connection", "close") // HTTP/1.1 closes; HTTP/2 sends GOAWAY
			writeProblem(c, newAPIError(http.StatusUnauthorized, "unauthenticated", "the client certificate was revoked"))
			return
		}
		stateOf(c).cert = id
		c.Next()
	}
}

func identify(leaf *x509.Certificate) *auth.ClientCert {
	return &auth.ClientCert{Thumbprint: auth.Thumbprint(leaf), Names: auth.CertNames(leaf)}
}

type connKey struct{}

// connIdentity caches per-connection facts derived from the handshake.
type connIdentity struct {
	cert atomic.Pointer[auth.ClientCert]
	gen  atomic.Uint64 // the TLS reload this connection was last checked against
}

// ConnContext is for http.Server.ConnContext: it gives each connection a
// place to cache its client certificate identity.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connIdentity{})
}

type tokenVerifier interface {
	VerifyWith(token string, cert auth.ClientCert) (auth.Principal, error)
}

// bearer verifies the Authorization: Bearer token, bound to the client
// certificate the connection presented.
func bearer(v tokenVerifier) gin.HandlerFunc {
	return func(c *gin.Context) {
		h, _, err := singleHeader(c, "Authorization")
		if err != nil {
			writeProblem(c, err)
			return
		}
		scheme, tok, ok := strings.Cut(h, " ")
		if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			writeProblem(c, newAPIError(http.StatusUnauthorized, "unauthenticated", "an Authorization: Bearer token is required"))
			return
		}
		st := stateOf(c)
		id := st.cert
		if id == nil {
			id = &auth.ClientCert{}
		}
		p, err := v.VerifyWith(strings.TrimSpace(tok), *id)
		if err != nil {
			writeProblem(c, err)
			return
		}
		st.principal = p
		c.Next()
	}
}

// requireScope allows the request only if the principal's effective scopes
// (token scopes capped by the org type) include want.
func requireScope(want auth.Scope) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !principal(c).Scopes.Has(want) {
			writeProblem(c, newAPIError(http.StatusForbidden, "forbidden", "this operation needs the "+want.String()+" scope, which the token or the organisation type does not grant"))
			return
		}
		c.Next()
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// routeOf is the request's route template (a closed set, never the raw
// path, which may hold an IBAN), "unmatched" for no route.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// singleHeader returns a header that may appear at most once: two
// Authorization or Idempotency-Key headers could mean two things to two
// parsers, so the request is refused rather than guessed at.
func singleHeader(c *gin.Context, name string) (value string, present bool, err error) {
	vals := c.Request.Header.Values(name)
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
		return vals[0], true, nil
	}
	return "", true, domain.Invalid(name, "the "+name+" header must appear once")
}
