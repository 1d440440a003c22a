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
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mulegate/mulegate/internal/report"
)

// Outcome is what the police store's answer means for a report.
type Outcome int

const (
	// Delivered: 2xx, or 409 "already have it". Final.
	Delivered Outcome = iota
	// Rejected: any other 4xx. Final; kept for inspection.
	Rejected
	// Retry: 5xx, a timeout, a connection error. Try again later.
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
	url  string
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
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("police.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, errors.New("police.ca_file: no certificates")
			}
		}
		if cfg.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("police.client_cert_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	return &Client{url: strings.TrimRight(cfg.URL, "/") + "/reports", http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}, nil
}

// Send makes one delivery attempt.
func (c *Client) Send(ctx context.Context, e report.OutboxEntry) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(e.Body))
	if err != nil {
		return Result{Outcome: Rejected, Reason: "cannot build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", e.ReportID)
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Outcome: Retry, Reason: "police store unreachable: " + shortErr(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300, resp.StatusCode == http.StatusConflict:
		var ans struct {
			PoliceReference string `json:"police_reference"`
		}
		_ = json.Unmarshal(body, &ans)
		return Result{Outcome: Delivered, PoliceRef: ans.PoliceReference, Status: resp.StatusCode}
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return Result{Outcome: Rejected, Status: resp.StatusCode,
			Reason: fmt.Sprintf("police store answered %d: %s", resp.StatusCode, snippet(body))}
	}
	// 5xx, and 408/429 (the store asks us to come back later).
	return Result{Outcome: Retry, Status: resp.StatusCode, Reason: fmt.Sprintf("police store answered %d", resp.StatusCode)}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// shortErr drops the URL from a transport error (it is configuration, not
// news) and keeps the cause.
func shortErr(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}
