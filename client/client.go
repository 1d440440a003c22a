// Package client is a Go client for the mulegate API, for the banks and
// marketplaces that integrate with a gateway (and the police). It does
// what every integration otherwise writes by hand:
//
//   - mTLS from PEM files (or an *http.Client of your own), and a bearer
//     token from a TokenSource you implement (or a StaticToken): a token
//     bound to your client certificate (cnf x5t#S256), as the gateway
//     requires;
//   - the SPEC's retry rules: 503 and 429 are retried after their
//     Retry-After (bounded), a report is retried with the same
//     Idempotency-Key (so a retry never counts twice), and network errors
//     are retried only for requests that are safe to repeat;
//   - a method for every route an integrator calls, with Go types for
//     the contract's (types.go: one type per idea, Go names, values
//     rather than pointers; a test checks each field and enum against
//     api/openapi.yaml);
//   - the event and alert feeds as iterators that long-poll or stream
//     and resume from a cursor, with typed event payloads
//     (Event.Payload);
//   - X-Purpose (Config.Purpose, WithPurpose) and X-Request-ID
//     (WithRequestID) on every call, so the gateway's audit trail says
//     why you looked.
//
// Problem answers (RFC 9457) come back as *Error; Code(err) is their
// machine-readable code.
package client

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config says where the gateway is and who calls it.
type Config struct {
	// BaseURL is the gateway's API, e.g. https://mulegate.example:8443.
	BaseURL string
	// CertFile and KeyFile are the client certificate and key (PEM) the
	// gateway knows your org by; CAFile the CA of the gateway's server
	// certificate ("" for the system roots). Ignored with HTTPClient.
	CertFile, KeyFile, CAFile string
	// HTTPClient replaces the one built from the files (its transport
	// must present the client certificate). The one built speaks HTTP/2
	// and reads frames of up to 1 MiB (Go's default is 16 KiB): with your
	// own, set Transport.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: 1 <<
	// 20} for batch answers of 0.7 MB to cost the gateway less.
	HTTPClient *http.Client
	// Token is asked for a token before every request.
	Token TokenSource
	// TokenURL, when Token is nil, is an OAuth 2.0 token endpoint the
	// client fetches its tokens from (client credentials, RFC 6749 §4.4)
	// over the same mTLS connection settings, authenticating with the
	// client certificate (RFC 8705 tls_client_auth: no secret), asking
	// for Scopes ("" all the client may have) as ClientID ("" the
	// identity provider takes it from the certificate). Tokens are
	// cached and fetched again shortly before they expire.
	TokenURL string
	ClientID string
	Scopes   []string
	// MaxAttempts bounds the tries of one call (default 4); MaxWait caps
	// one wait before a retry (default 30 s). The context bounds both.
	MaxAttempts int
	MaxWait     time.Duration
	// Purpose is the X-Purpose every call declares unless its context
	// says otherwise (WithPurpose): payment_check, onboarding,
	// investigation, monitoring or other. "" sends none, and the gateway
	// audits the call as "unspecified".
	Purpose string
	// UserAgent names your application; the client appends its own
	// ("mulegate-go/1"). The gateway's access log shows it.
	UserAgent string
	// InsecureLoopback allows an http:// BaseURL on a loopback host
	// (127.0.0.0/8, ::1, localhost), for tests against a plain listener.
	// Any other http:// base URL is refused: the token never travels in
	// clear.
	InsecureLoopback bool
}

// TokenSource gives the bearer token for a request: refresh it there.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a token that never changes.
type StaticToken string

// Token returns t.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Client calls one gateway. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	hc          *http.Client
	tokens      TokenSource
	maxAttempts int
	maxWait     time.Duration
	purpose     string
	userAgent   string
}

// userAgent is the client's own product token.
const userAgent = "mulegate-go/1"

type ctxKey int

const (
	purposeKey ctxKey = iota
	requestIDKey
	actorKey
)

// The purposes a call may declare (X-Purpose), for Config.Purpose and
// WithPurpose.
const (
	PurposePaymentCheck  = "payment_check"
	PurposeOnboarding    = "onboarding"
	PurposeInvestigation = "investigation"
	PurposeMonitoring    = "monitoring"
	PurposeOther         = "other"
)

// WithPurpose declares the X-Purpose of the calls made with ctx (it
// overrides Config.Purpose): the gateway records it in its audit trail.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	return context.WithValue(ctx, purposeKey, purpose)
}

// WithRequestID sends id as the X-Request-ID of the calls made with ctx
// (1-128 characters of [A-Za-z0-9._:-]), so your logs and the gateway's
// name the same request; without it the gateway makes one up and
// answers it (Error.RequestID).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// WithActor names the person the calls made with ctx act for (X-Actor:
// 1-128 visible ASCII characters), recorded as the actor of their audit
// records: a console or case tool sends its user's name.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey, actor)
}

// New builds a client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want https://host:port", cfg.BaseURL)
	}
	switch {
	case base.Scheme == "https":
	case base.Scheme == "http" && cfg.InsecureLoopback && isLoopback(base.Hostname()):
	default:
		return nil, fmt.Errorf("client: base URL %q: the token is sent only over https (http:// only on loopback, with InsecureLoopback)", cfg.BaseURL)
	}
	if cfg.Token == nil && cfg.TokenURL == "" {
		return nil, errors.New("client: a TokenSource or a TokenURL is required")
	}
	c := &Client{base: base, hc: cfg.HTTPClient, tokens: cfg.Token, maxAttempts: cfg.MaxAttempts, maxWait: cfg.MaxWait,
		purpose: cfg.Purpose, userAgent: strings.TrimSpace(cfg.UserAgent + " " + userAgent)}
	if c.maxAttempts <= 0 {
		c.maxAttempts = 4
	}
	if c.maxWait <= 0 {
		c.maxWait = 30 * time.Second
	}
	if c.hc == nil {
		tc, err := TLSConfig(cfg.CertFile, cfg.KeyFile, cfg.CAFile)
		if err != nil {
			return nil, err
		}
		c.hc = &http.Client{Transport: newTransport(tc)}
	} else {
		hc := *c.hc // the caller's client is not changed
		c.hc = &hc
	}
	// A redirect is never followed: the gateway sends none, and following
	// one would carry the token to wherever it points (Go keeps the
	// Authorization header on a redirect to the same host, even from
	// https to http). The 3xx comes back to the caller as an error.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.tokens == nil {
		c.tokens = ClientCredentials(c.hc, cfg.TokenURL, cfg.ClientID, cfg.Scopes...)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// maxReadFrame is the largest HTTP/2 frame the client reads. Go's and
// curl's default, 16 KiB, makes a server send a batch answer of 700 kB in
// 43 frames of 16,393 bytes: each is two TLS records (16,384 bytes, then
// the 9 left over) and two writes, and the client acknowledges every 8 KiB
// it reads with window updates. With frames of up to 1 MiB the same answer
// is a few frames of full records (docs/perf/history.md, session 15).
const maxReadFrame = 1 << 20

// newTransport is the transport New makes: HTTP/2 when the gateway offers
// it, frames of up to maxReadFrame.
func newTransport(tc *tls.Config) *http.Transport {
	return &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
		HTTP2: &http.HTTP2Config{MaxReadFrameSize: maxReadFrame}}
}

// maxAnswer bounds the answer the client reads (a batch of 1000 is about
// 0.7 MB).
const maxAnswer = 16 << 20

// readAnswer reads a whole answer: into one buffer of its declared length
// when it has one (reads as large as what has arrived, so HTTP/2 window
// updates are few), else up to maxAnswer.
func readAnswer(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxAnswer {
		b := make([]byte, n)
		_, err := io.ReadFull(resp.Body, b)
		return b, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
}

// TLSConfig is TLS 1.2+ with the client certificate from certFile and
// keyFile and, with caFile, only that CA for the server.
func TLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("client: a client certificate and key are required (mTLS)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client: certificate: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Error is a problem answer (RFC 9457) from the gateway.
type Error struct {
	Status     int
	Problem    Problem
	RetryAfter time.Duration // from Retry-After, on 429 and 503
	RequestID  string        // X-Request-ID: quote it to the operator
}

// Error is "mulegate: STATUS CODE: DETAIL".
func (e *Error) Error() string {
	code := string(e.Problem.Code)
	if code == "" {
		code = http.StatusText(e.Status)
	}
	msg := fmt.Sprintf("mulegate: %d %s", e.Status, code)
	if e.Problem.Detail != "" {
		msg += ": " + e.Problem.Detail
	}
	return msg
}

// Code is the machine-readable code of a problem answer in err's chain
// ("" for any other error), to compare with the Code constants:
//
//	if client.Code(err) == client.CodeIdempotencyConflict { ... }
func Code(err error) ProblemCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Problem.Code
	}
	return ""
}

// call is one API call: safe says it may be repeated after a network
// error (the gateway may have acted on the first try).
type call struct {
	method, path string
	query        url.Values
	body         any
	header       http.Header
	safe         bool
	want         []int // accepted statuses (default 200)
}

// do runs a call with the retry rules and decodes a success into out.
func (c *Client) do(ctx context.Context, k call, out any) (http.Header, int, error) {
	var payload []byte
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return nil, 0, err
		}
		payload = b
	}
	if len(k.want) == 0 {
		k.want = []int{http.StatusOK}
	}
	target := c.url(k)
	var last error
	for attempt := 1; ; attempt++ {
		req, err := c.request(ctx, k, target, payload)
		if err != nil {
			return nil, 0, err
		}
		resp, err := c.hc.Do(req)
		var wait time.Duration
		if err != nil {
			if !k.safe || ctx.Err() != nil {
				return nil, 0, err
			}
			last, wait = err, backoff(attempt)
		} else {
			h, status, retry, err := c.read(resp, k.want, out)
			if !retry {
				return h, status, err
			}
			last, wait = err, retryAfter(err, backoff(attempt))
		}
		if attempt >= c.maxAttempts {
			return nil, 0, last
		}
		if err := sleep(ctx, min(wait, c.maxWait)); err != nil {
			return nil, 0, errors.Join(err, last)
		}
	}
}

// url is a call's address under the client's base.
func (c *Client) url(k call) string {
	u := *c.base
	u.Path += k.path
	u.RawPath = ""
	if strings.Contains(k.path, "%") { // an escaped path element (an IBAN with spaces)
		u.RawPath = c.base.EscapedPath() + k.path
		u.Path, _ = url.PathUnescape(u.RawPath)
	}
	u.RawQuery = k.query.Encode()
	return u.String()
}

// request is one attempt of a call, with a fresh token.
func (c *Client) request(ctx context.Context, k call, target string, payload []byte) (*http.Request, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("client: token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, target, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	for h, vs := range k.header {
		req.Header[h] = vs
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	c.declare(ctx, req)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// declare sets what every request says of itself: the User-Agent, and
// from ctx (or the client's defaults) X-Purpose, X-Request-ID and
// X-Actor.
func (c *Client) declare(ctx context.Context, req *http.Request) {
	req.Header.Set("User-Agent", c.userAgent)
	purpose := c.purpose
	if p, ok := ctx.Value(purposeKey).(string); ok {
		purpose = p
	}
	if purpose != "" {
		req.Header.Set("X-Purpose", purpose)
	}
	if id, ok := ctx.Value(requestIDKey).(string); ok && id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	if a, ok := ctx.Value(actorKey).(string); ok && a != "" {
		req.Header.Set("X-Actor", a)
	}
}

// retryAfter is the wait a refusal asks for (Retry-After), else def.
func retryAfter(err error, def time.Duration) time.Duration {
	var pe *Error
	if errors.As(err, &pe) && pe.RetryAfter > 0 {
		return pe.RetryAfter
	}
	return def
}

// sleep waits d, or returns ctx's error when it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// read decodes one answer; retry says it was a 503 or a 429.
func (c *Client) read(resp *http.Response, want []int, out any) (h http.Header, status int, retry bool, err error) {
	defer resp.Body.Close()
	body, err := readAnswer(resp)
	if err != nil {
		return nil, 0, false, err
	}
	for _, w := range want {
		if resp.StatusCode != w {
			continue
		}
		if out != nil && len(body) > 0 {
			if err := json.Unmarshal(body, out); err != nil {
				return nil, 0, false, fmt.Errorf("client: decoding a %d answer: %w", resp.StatusCode, err)
			}
		}
		return resp.Header, resp.StatusCode, false, nil
	}
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID")}
	_ = json.Unmarshal(body, &e.Problem)
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	retry = resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests
	return resp.Header, resp.StatusCode, retry, e
}

// backoff is the wait before try n+1 when the gateway gave none:
// exponential from 200 ms with jitter, at most 5 s.
func backoff(n int) time.Duration {
	d := min(200*time.Millisecond<<min(n-1, 5), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// NewIdempotencyKey is a random key for one report (keep it with the
// report until you have its 202: a retry must send the same key).
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ibanPath(iban string) string { return "/v1/ibans/" + url.PathEscape(iban) }

// Lookup is GET /v1/ibans/{iban}: how many reports cite the IBAN.
func (c *Client) Lookup(ctx context.Context, iban string) (*Lookup, error) {
	var out Lookup
	_, _, err := c.do(ctx, call{method: "GET", path: ibanPath(iban), safe: true}, &out)
	return &out, err
}

// LookupMany is POST /v1/ibans/lookup: up to the gateway's batch limit
// (1000 by default), answers in input order.
func (c *Client) LookupMany(ctx context.Context, ibans []string) ([]BatchResult, error) {
	var out struct {
		Results []json.RawMessage `json:"results"`
	}
	_, _, err := c.do(ctx, call{method: "POST", path: "/v1/ibans/lookup", body: struct {
		IBANs []string `json:"ibans"`
	}{ibans}, safe: true}, &out)
	if err != nil {
		return nil, err
	}
	res := make([]BatchResult, len(out.Results))
	for n, raw := range out.Results {
		var probe struct {
			Error json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal(raw, &probe)
		if probe.Error != nil {
			res[n].Error = &BatchError{}
			err = json.Unmarshal(raw, res[n].Error)
		} else {
			res[n].Lookup = &Lookup{}
			err = json.Unmarshal(raw, res[n].Lookup)
		}
		if err != nil {
			return nil, fmt.Errorf("client: batch result %d: %w", n, err)
		}
	}
	return res, nil
}

// SubmitReport is POST /v1/reports with idempotencyKey (NewIdempotencyKey
// for a new report; the same key to repeat one). A 503, a 429 or a
// network error is retried with the same key, so the report counts once;
// replayed says the gateway had it already.
func (c *Client) SubmitReport(ctx context.Context, idempotencyKey string, r ReportRequest) (a *Accepted, replayed bool, err error) {
	if idempotencyKey == "" {
		return nil, false, errors.New("client: an Idempotency-Key is required (NewIdempotencyKey)")
	}
	a = &Accepted{}
	h, _, err := c.do(ctx, call{method: "POST", path: "/v1/reports", body: r, safe: true,
		header: http.Header{"Idempotency-Key": {idempotencyKey}}, want: []int{http.StatusAccepted}}, a)
	return a, h.Get("Idempotent-Replayed") == "true", err
}

// Report is GET /v1/reports/{id}: its forwarding status and review.
func (c *Client) Report(ctx context.Context, id string) (*ReportStatus, error) {
	var out ReportStatus
	_, _, err := c.do(ctx, call{method: "GET", path: "/v1/reports/" + url.PathEscape(id), safe: true}, &out)
	return &out, err
}

// AcknowledgeReport is POST /v1/reports/{id}/acknowledge (the holding bank).
func (c *Client) AcknowledgeReport(ctx context.Context, id string) (*ReportStatus, error) {
	return c.review(ctx, id, "acknowledge", nil)
}

// CloseReport is POST /v1/reports/{id}/close (the holding bank): agreed
// (with a fraud type) or disagreed.
func (c *Client) CloseReport(ctx context.Context, id string, r CloseRequest) (*ReportStatus, error) {
	return c.review(ctx, id, "close", r)
}

// CancelReport is POST /v1/reports/{id}/cancel (the reporter).
func (c *Client) CancelReport(ctx context.Context, id string, r CancelRequest) (*ReportStatus, error) {
	return c.review(ctx, id, "cancel", r)
}

// review actions are safe to repeat: a repeat of an applied action
// changes nothing and answers the same.
func (c *Client) review(ctx context.Context, id, action string, body any) (*ReportStatus, error) {
	var out ReportStatus
	_, _, err := c.do(ctx, call{method: "POST", path: "/v1/reports/" + url.PathEscape(id) + "/" + action, body: body, safe: true}, &out)
	return &out, err
}

// ReportOnward is POST /v1/reports/{id}/onward (the holder): where the
// money of a report went on, each transfer becoming a linked report, with
// idempotencyKey (NewIdempotencyKey for a new request): a repeat answers
// the same (replayed) and a retry completes a partial call.
func (c *Client) ReportOnward(ctx context.Context, id, idempotencyKey string, transfers []Transfer) (a *OnwardAnswer, replayed bool, err error) {
	if idempotencyKey == "" {
		return nil, false, errors.New("client: an Idempotency-Key is required (NewIdempotencyKey)")
	}
	var out OnwardAnswer
	h, _, err := c.do(ctx, call{method: "POST", path: "/v1/reports/" + url.PathEscape(id) + "/onward", body: onwardRequest{Transfers: transfers},
		header: http.Header{"Idempotency-Key": {idempotencyKey}}, safe: true, want: []int{http.StatusCreated}}, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, h.Get("Idempotent-Replayed") == "true", nil
}

// Chain is GET /v1/reports/{id}/chain: the chain the report belongs to,
// from its root, breadth-first.
func (c *Client) Chain(ctx context.Context, id string) (*Chain, error) {
	var out Chain
	_, _, err := c.do(ctx, call{method: "GET", path: "/v1/reports/" + url.PathEscape(id) + "/chain", safe: true}, &out)
	return &out, err
}

// RequestRecovery is POST /v1/reports/{id}/recovery: the reporting bank
// asks the holder to block and return the money (201; the same request
// again is 200 with the recovery as it is now).
func (c *Client) RequestRecovery(ctx context.Context, id string, r RecoveryRequest) (*Recovery, error) {
	return c.recovery(ctx, id, "", r, http.StatusCreated, http.StatusOK)
}

// HoldRecovery is POST /v1/reports/{id}/recovery/hold (the holder): the
// amount it blocked.
func (c *Client) HoldRecovery(ctx context.Context, id string, amount Amount) (*Recovery, error) {
	return c.recovery(ctx, id, "/hold", recoveryAmount{Amount: amount})
}

// ReturnRecovery is POST /v1/reports/{id}/recovery/return (the holder).
func (c *Client) ReturnRecovery(ctx context.Context, id string, r RecoveryReturn) (*Recovery, error) {
	return c.recovery(ctx, id, "/return", r)
}

// RejectRecovery is POST /v1/reports/{id}/recovery/reject (the holder).
func (c *Client) RejectRecovery(ctx context.Context, id string, r RecoveryReject) (*Recovery, error) {
	return c.recovery(ctx, id, "/reject", r)
}

// ReleaseRecovery is POST /v1/reports/{id}/recovery/release (the requester).
func (c *Client) ReleaseRecovery(ctx context.Context, id string) (*Recovery, error) {
	return c.recovery(ctx, id, "/release", nil)
}

// recovery steps are safe to repeat: the same step with the same body
// answers 200 with the recovery, changing nothing.
func (c *Client) recovery(ctx context.Context, id, step string, body any, want ...int) (*Recovery, error) {
	var out Recovery
	_, _, err := c.do(ctx, call{method: "POST", path: "/v1/reports/" + url.PathEscape(id) + "/recovery" + step, body: body, safe: true,
		want: want}, &out)
	return &out, err
}

// PutMarker is PUT /v1/ibans/{iban}/marker (scope markers:write: the
// police for any IBAN, a bank for IBANs it holds); details may be "".
func (c *Client) PutMarker(ctx context.Context, iban string, fraudType FraudType, details string) (*Marker, error) {
	var out Marker
	_, _, err := c.do(ctx, call{method: "PUT", path: ibanPath(iban) + "/marker", body: markerRequest{FraudType: fraudType, Details: details}, safe: true}, &out)
	return &out, err
}

// DeleteMarker is DELETE /v1/ibans/{iban}/marker.
func (c *Client) DeleteMarker(ctx context.Context, iban string) error {
	_, _, err := c.do(ctx, call{method: "DELETE", path: ibanPath(iban) + "/marker", safe: true, want: []int{http.StatusNoContent}}, nil)
	return err
}

// LookupsOf is GET /v1/ibans/{iban}/lookups (the police): who looked it up.
func (c *Client) LookupsOf(ctx context.Context, iban string) ([]OrgLookups, error) {
	var out struct {
		Orgs []OrgLookups `json:"orgs"`
	}
	_, _, err := c.do(ctx, call{method: "GET", path: ibanPath(iban) + "/lookups", safe: true}, &out)
	return out.Orgs, err
}

// Limits is GET /v1/limits.
func (c *Client) Limits(ctx context.Context) (*Limits, error) {
	var out Limits
	_, _, err := c.do(ctx, call{method: "GET", path: "/v1/limits", safe: true}, &out)
	return &out, err
}

// PostAlert is POST /v1/alerts (the police): the alert goes to the bank
// that holds the IBAN. With an idempotencyKey ("" for none) a retry
// after a network error cannot post it twice.
func (c *Client) PostAlert(ctx context.Context, idempotencyKey string, a AlertRequest) (*PostedAlert, error) {
	k := call{method: "POST", path: "/v1/alerts", body: a, want: []int{http.StatusCreated, http.StatusOK}}
	if idempotencyKey != "" {
		k.header, k.safe = http.Header{"Idempotency-Key": {idempotencyKey}}, true
	}
	var out PostedAlert
	_, _, err := c.do(ctx, k, &out)
	return &out, err
}

// FeedOptions choose where a feed starts and what it returns.
type FeedOptions struct {
	After string      // the cursor to resume from ("" for the start)
	Types []EventType // events only: the types wanted (nil for all)
	Limit int         // per page (default the gateway's)
	// Follow long-polls for new entries instead of ending at the
	// newest; the iterator then ends only with ctx or an error.
	Follow bool
}

// eventPage is one page of the event feed.
type eventPage struct {
	Events     []Event `json:"events"`
	NextCursor string  `json:"next_cursor"`
}

// Events iterates the calling bank's event feed from o.After, each with
// the cursor to resume from after it (store it once the event is
// handled). Delivery is at least once: dedupe on event_id.
func (c *Client) Events(ctx context.Context, o FeedOptions) iter.Seq2[CursorItem[Event], error] {
	return feed(ctx, c, "/v1/events", o, func(p *eventPage) ([]Event, string) { return p.Events, p.NextCursor })
}

// alertPage is one page of the alert feed.
type alertPage struct {
	Alerts     []Alert `json:"alerts"`
	NextCursor string  `json:"next_cursor"`
}

// Alerts iterates the calling bank's alert feed, as Events does.
func (c *Client) Alerts(ctx context.Context, o FeedOptions) iter.Seq2[CursorItem[Alert], error] {
	o.Types = nil
	return feed(ctx, c, "/v1/alerts", o, func(p *alertPage) ([]Alert, string) { return p.Alerts, p.NextCursor })
}

// CursorItem is a feed entry and the cursor after it.
type CursorItem[T any] struct {
	Item   T
	Cursor string // resume here once Item is handled
}

func feed[T, P any](ctx context.Context, c *Client, path string, o FeedOptions, items func(*P) ([]T, string)) iter.Seq2[CursorItem[T], error] {
	return func(yield func(CursorItem[T], error) bool) {
		cursor := o.After
		for {
			var page P
			if _, _, err := c.do(ctx, call{method: "GET", path: path, query: o.query(cursor), safe: true}, &page); err != nil {
				yield(CursorItem[T]{}, err)
				return
			}
			list, next := items(&page)
			for _, it := range list {
				if !yield(CursorItem[T]{Item: it, Cursor: cursorOf(it, next)}, nil) {
					return
				}
			}
			if next != "" {
				cursor = next
			}
			if len(list) == 0 && !o.Follow {
				return
			}
		}
	}
}

// query is a feed page's query from cursor.
func (o FeedOptions) query(cursor string) url.Values {
	q := url.Values{}
	if cursor != "" {
		q.Set("after", cursor)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if len(o.Types) > 0 {
		q.Set("types", joinTypes(o.Types))
	}
	if o.Follow {
		q.Set("wait", "30")
	}
	return q
}

// cursorOf is an entry's own cursor (Event.Cursor, Alert.Cursor), or the
// page's next cursor when the entry has none.
func cursorOf(v any, next string) string {
	switch it := v.(type) {
	case Event:
		return it.Cursor
	case Alert:
		return it.Cursor
	}
	return next
}

// EventStream is GET /v1/events/stream: the calling bank's events as
// Server-Sent Events, from after (a cursor; "" for only new events), each
// with its cursor. A dropped connection is reopened from the last cursor
// (Last-Event-ID), with the retry rules; the iterator ends with ctx or an
// error the rules do not retry.
func (c *Client) EventStream(ctx context.Context, after string, types ...EventType) iter.Seq2[CursorItem[Event], error] {
	q := url.Values{}
	if len(types) > 0 {
		q.Set("types", joinTypes(types))
	}
	return stream[Event](ctx, c, "/v1/events/stream", q, after)
}

// joinTypes is a types= filter.
func joinTypes(types []EventType) string {
	s := make([]string, len(types))
	for n, t := range types {
		s[n] = string(t)
	}
	return strings.Join(s, ",")
}

// AlertStream is GET /v1/alerts/stream, as EventStream.
func (c *Client) AlertStream(ctx context.Context, after string) iter.Seq2[CursorItem[Alert], error] {
	return stream[Alert](ctx, c, "/v1/alerts/stream", url.Values{}, after)
}

func stream[T any](ctx context.Context, c *Client, path string, q url.Values, after string) iter.Seq2[CursorItem[T], error] {
	return func(yield func(CursorItem[T], error) bool) {
		last, failures := after, 0
		for ctx.Err() == nil {
			resp, fatal, err := c.openStream(ctx, path, q, last)
			if err == nil && resp.StatusCode != http.StatusOK {
				var retry bool
				_, _, retry, err = c.read(resp, []int{http.StatusOK}, nil)
				fatal = !retry
			}
			if fatal {
				yield(CursorItem[T]{}, err)
				return
			}
			if err == nil {
				failures = 0
				more := readSSE(resp.Body, func(id, data string) bool {
					var it T
					if json.Unmarshal([]byte(data), &it) != nil {
						return true // a comment or keep-alive without JSON
					}
					last = id
					return yield(CursorItem[T]{Item: it, Cursor: id}, nil)
				})
				resp.Body.Close()
				if !more {
					return
				}
				continue // the server ended the stream (a shutdown): reopen
			}
			if failures++; failures >= c.maxAttempts || ctx.Err() != nil {
				yield(CursorItem[T]{}, err)
				return
			}
			if sleep(ctx, backoff(failures)) != nil {
				return
			}
		}
	}
}

// openStream opens an SSE stream from after the cursor last; fatal says
// an error is not to be retried (no token, no request).
func (c *Client) openStream(ctx context.Context, path string, q url.Values, last string) (resp *http.Response, fatal bool, err error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, true, fmt.Errorf("client: token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, true, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	c.declare(ctx, req)
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err = c.hc.Do(req)
	return resp, false, err
}

// readSSE calls each with every event's id and data until the body ends
// (true) or each says stop (false).
func readSSE(body io.Reader, each func(id, data string) bool) bool {
	r := bufio.NewReader(body)
	var id, data string
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data != "" && !each(id, data) {
				return false
			}
			data = ""
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "data:"):
			if data != "" {
				data += "\n"
			}
			data += strings.TrimPrefix(line[5:], " ")
		}
		if err != nil {
			return true
		}
	}
}
