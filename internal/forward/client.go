package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/mulegate/mulegate/internal/outbox"
	"github.com/mulegate/mulegate/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mulegate/mulegate/internal/pemfile"
)

// Outcome is what the police store's answer means for a report.
type Outcome int

const (
	// Delivered: 2xx, or 409 "already have it". Final.
	Delivered Outcome = iota
	// Rejected: 400 or 422, the store refuses this report. Final; kept
	// for inspection and for "mulegate outbox requeue".
	Rejected
	// Retry: everything else (3xx, 401, 403, 404, 408, 429, 5xx, a
	// timeout, a connection error). Try again later; it counts as a
	// breaker failure. Most of these are our own configuration (an
	// expired certificate, a wrong URL), never a reason to drop a report.
	Retry
)

func (o Outcome) String() string {
	return [...]string{"forwarded", "rejected", "retry"}[o]
}

// Result is the outcome of one delivery attempt.
type Result struct {
	Outcome   Outcome
	PoliceRef string
	Reason    string // for Rejected and Retry: what went wrong, safe to store
	Status    int
}

// ClientConfig configures the police store client.
type ClientConfig struct {
	URL      string // base URL; reports go to URL + "/reports"
	Timeout  time.Duration
	CertFile string // optional client certificate of the gateway's own (https)
	KeyFile  string
	CAFile   string // optional CA bundle for the police store's certificate
}

// Client speaks the police store wire contract: POST {url}/reports with
// Content-Type: application/json and Idempotency-Key: <report id>; 201 new,
// 200 or 409 with the same police_reference for a known id, other 4xx to
// reject, 5xx or no answer to retry.
type Client struct {
	url  string // {police_url}/reports
	http *http.Client
}

// NewClient builds the client, loading certificates if configured.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = cfg.Timeout
	if strings.HasPrefix(cfg.URL, "https://") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pool, err := pemfile.CertPool(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("police.ca_file: %w", err)
			}
			tc.RootCAs = pool
		}
		if cfg.CertFile != "" {
			cert, err := pemfile.KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("police.client_cert_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	return &Client{url: strings.TrimRight(cfg.URL, "/") + "/reports", http: &http.Client{
		Transport: tr, Timeout: cfg.Timeout,
		// A redirect is never followed: net/http would turn the POST into
		// a body-less GET and take that GET's answer as the store's.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Send makes one delivery attempt. It continues the trace of the request
// that queued the entry (its traceparent was kept with it) with a client
// span, and sends the W3C traceparent to the police store.
func (c *Client) Send(ctx context.Context, e outbox.Entry) (res Result) {
	target, tmpl := c.url, "/reports"
	if e.Kind == outbox.KindEvent {
		target += "/" + url.PathEscape(e.ReportID) + "/events"
		tmpl = "/reports/{report_id}/events"
	}
	if e.TraceParent != "" {
		ctx = telemetry.Propagator.Extract(ctx, propagation.MapCarrier{"traceparent": e.TraceParent})
	}
	ctx, span := telemetry.Tracer().Start(ctx, "POST "+tmpl, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", "POST"), attribute.String("url.template", tmpl)))
	defer func() {
		if res.Status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", res.Status))
		}
		if res.Outcome != Delivered {
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(e.Body))
	if err != nil {
		return Result{Outcome: Retry, Reason: "cannot build the request"}
	}
	telemetry.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	key := e.Key
	if key == "" {
		key = e.ReportID
	}
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Outcome: Retry, Reason: "police store unreachable (" + transportReason(err) + ")"}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return classify(resp.StatusCode, body)
}

// classify maps the store's answer to an outcome. Reason is shown to the
// reporter as last_error: the status and its standard text, never the
// store's body (it may echo internals).
func classify(status int, body []byte) Result {
	reason := fmt.Sprintf("police store answered %d %s", status, http.StatusText(status))
	switch {
	case status >= 200 && status < 300, status == http.StatusConflict:
		return Result{Outcome: Delivered, PoliceRef: policeReference(body), Status: status}
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return Result{Outcome: Rejected, Status: status, Reason: reason}
	}
	return Result{Outcome: Retry, Status: status, Reason: strings.TrimSpace(reason)}
}

// policeReference is the store's police_reference: a string, or a number
// as it was written (the wire contract does not type it, and a store
// written by someone else may number its cases); anything else, or no
// body, is none (the report is delivered all the same).
func policeReference(body []byte) string {
	var ans struct {
		PoliceReference json.RawMessage `json:"police_reference"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return ""
	}
	var ref string
	if json.Unmarshal(ans.PoliceReference, &ref) == nil {
		return ref
	}
	var n json.Number
	if json.Unmarshal(ans.PoliceReference, &n) == nil {
		return n.String()
	}
	return ""
}

// transportReason names what went wrong with a call in a few words, with
// no address, URL or host name in it.
func transportReason(err error) string {
	var ne net.Error
	var op *net.OpError
	var dns *net.DNSError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the store"
	case errors.As(err, &dns):
		return "name resolution failed"
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn):
		return "TLS certificate not accepted"
	case errors.As(err, &op) && op.Op == "remote error":
		return "TLS handshake refused by the store"
	case errors.As(err, &op):
		return "network error"
	}
	return "transport error"
}
