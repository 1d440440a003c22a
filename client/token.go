package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentials is a TokenSource that fetches tokens from an OAuth
// 2.0 token endpoint with the client credentials grant, over hc (an
// http.Client that presents your client certificate: the identity
// provider authenticates the client by it, RFC 8705, and binds the token
// to it), for clientID ("" to let the provider take it from the
// certificate) and scopes. It is built on golang.org/x/oauth2's
// clientcredentials: a token is reused until shortly before it expires,
// then fetched again.
func ClientCredentials(hc *http.Client, tokenURL, clientID string, scopes ...string) TokenSource {
	cfg := clientcredentials.Config{ClientID: clientID, TokenURL: tokenURL, Scopes: scopes, AuthStyle: oauth2.AuthStyleInParams}
	return &credentialsSource{hc: hc, cfg: cfg}
}

type credentialsSource struct {
	hc   *http.Client
	cfg  clientcredentials.Config
	once sync.Once
	ts   oauth2.TokenSource
}

// Token returns a valid access token, fetching one when the cached one
// is about to expire. ctx bounds a fetch.
func (s *credentialsSource) Token(ctx context.Context) (string, error) {
	s.once.Do(func() {
		// The source keeps the context it was made with for its fetches:
		// a background one carrying the mTLS client; each call's own
		// deadline is applied below.
		s.ts = s.cfg.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, s.hc))
	})
	type result struct {
		t   *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		t, err := s.ts.Token()
		ch <- result{t, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-ch:
		if r.err != nil {
			return "", r.err
		}
		if r.t.AccessToken == "" {
			return "", errors.New("client: the token endpoint answered no access_token")
		}
		return r.t.AccessToken, nil
	}
}

// TokenFile is a TokenSource that reads the token from a file, again
// whenever the file changes: for a token a sidecar (an identity
// provider's agent) keeps fresh on disk.
func TokenFile(path string) TokenSource { return &fileSource{path: path} }

type fileSource struct {
	path  string
	mu    sync.Mutex
	mtime time.Time
	size  int64
	tok   string
}

// Token returns the file's token (trimmed), read again when its
// modification time or size changed.
func (s *fileSource) Token(context.Context) (string, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return "", fmt.Errorf("client: token file: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == "" || !fi.ModTime().Equal(s.mtime) || fi.Size() != s.size {
		b, err := os.ReadFile(s.path)
		if err != nil {
			return "", fmt.Errorf("client: token file: %w", err)
		}
		if s.tok = strings.TrimSpace(string(b)); s.tok == "" {
			return "", fmt.Errorf("client: token file %s is empty", s.path)
		}
		s.mtime, s.size = fi.ModTime(), fi.Size()
	}
	return s.tok, nil
}
