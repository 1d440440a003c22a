package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/devenv"
	"github.com/mulegate/mulegate/internal/policesim"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"
)

const (
	devIssuer   = "https://idp.mulegate.dev.invalid"
	devAudience = "mulegate"
	devKid      = "dev-es256-1"
)

// devOrg is one demo organisation of dev mode.
type devOrg struct {
	ID, Type, File, Scope string
	BankCodes             map[string][]string
}

var devOrgs = []devOrg{
	{ID: "demo-bank", Type: "bank", File: "bank", Scope: "ibans:read reports:write reports:read alerts:read events:read reports:review markers:write recoveries:write chains:write chains:read ibans:status",
		BankCodes: map[string][]string{"NL": {"ABNA"}, "DE": {"37040044"}, "BE": {"539"}, "FR": {"20041"}}},
	// The victim's bank: it reports the account its customer paid and asks
	// demo-bank, which holds it, for the money (funds recovery).
	{ID: "demo-victim", Type: "bank", File: "victim", Scope: "ibans:read reports:write reports:read alerts:read events:read recoveries:write chains:write chains:read",
		BankCodes: map[string][]string{"GB": {"WEST"}}},
	{ID: "demo-market", Type: "marketplace", File: "market", Scope: "ibans:read reports:write reports:read events:read"},
	{ID: "demo-police", Type: "police", File: "police", Scope: "ibans:read reports:write reports:read alerts:write markers:write audit:read chains:read ibans:clear"},
}

// devFlags are dev mode's command-line settings.
type devFlags struct {
	dir, redis, listen, opsListen, policeListen, tokenListen string
	bankConsole, policeConsole                               string
	pprof                                                    bool
	ttl                                                      time.Duration
}

func parseDevFlags(args []string, stderr io.Writer) (devFlags, error) {
	var f devFlags
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.dir, "dir", ".mulegate-dev", "folder for the development CA, certificates, keys and JWKS (git-ignored)")
	fs.StringVar(&f.redis, "redis", "", "use this real Redis (host:port; several, comma-separated: a Redis Cluster) instead of the embedded miniredis")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8443", "API listen address (mTLS)")
	fs.StringVar(&f.opsListen, "ops-listen", "127.0.0.1:9090", "operations listen address")
	fs.StringVar(&f.policeListen, "police-listen", "127.0.0.1:9200", "listen address of the embedded police store simulator")
	fs.StringVar(&f.tokenListen, "token-listen", "127.0.0.1:0", "listen address of the OAuth 2.0 token endpoint (client credentials over mTLS; port 0: any free one, printed)")
	fs.StringVar(&f.bankConsole, "bank-console", "127.0.0.1:8480", "listen address of demo-bank's web console (\"\": none)")
	fs.StringVar(&f.policeConsole, "police-console", "127.0.0.1:8481", "listen address of demo-police's web console (\"\": none)")
	fs.BoolVar(&f.pprof, "pprof", false, "serve /debug/pprof/ on the ops listener")
	fs.DurationVar(&f.ttl, "token-ttl", 12*time.Hour, "lifetime of the printed tokens")
	if err := fs.Parse(args); err != nil {
		return f, errUsage
	}
	return f, nil
}

// cmdDev runs a complete development gateway: its own PKI, an embedded
// Redis unless --redis names one, an embedded police store simulator, and
// ready-to-paste commands with fresh tokens.
func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := parseDevFlags(args, stderr)
	if err != nil {
		return err
	}
	apiPort, err := portOf(f.listen) // the printed commands need the real port
	if err != nil {
		return err
	}
	if err := writeDevPKI(f.dir); err != nil {
		return err
	}
	if err := writeDevEvidenceKeys(f.dir); err != nil {
		return err
	}
	addr, stopRedis, err := devRedis(f.redis)
	if err != nil {
		return err
	}
	defer stopRedis()
	simSrv, simLn, err := devPoliceStore(f.policeListen)
	if err != nil {
		return err
	}
	defer simLn.Close()
	tokenLn, err := net.Listen("tcp", f.tokenListen)
	if err != nil {
		return fmt.Errorf("--token-listen: %w", err)
	}
	defer tokenLn.Close()
	f.tokenListen = tokenLn.Addr().String() // the printed commands name the real port
	cfg, err := devConfig(f, addr, "http://"+simLn.Addr().String(), getenv)
	if err != nil {
		return err
	}
	tokens, err := devTokens(f.dir, f.ttl)
	if err != nil {
		return err
	}
	consoles, err := devConsoles(f, apiPort)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range consoles {
			c.ln.Close()
		}
	}()
	if err := printDevBanner(stdout, f, apiPort, cfg, tokens, consoles); err != nil {
		return err
	}
	return serve(ctx, cfg, "", getenv, stdout, stderr, func(ctx context.Context) error {
		eg, ctx := errgroup.WithContext(ctx)
		eg.Go(func() error { return runSim(ctx, simSrv, simLn) })
		eg.Go(func() error { return devTokenServer(ctx, f.dir, tokenLn, time.Hour) })
		for _, c := range consoles {
			eg.Go(func() error { return serveConsole(ctx, c.srv, c.ln, c.cfg, newLogger(io.Discard, "info"), io.Discard) })
		}
		return eg.Wait()
	})
}

// devConsole is one demo org's web console, bound before the banner
// prints its address.
type devConsole struct {
	org string
	cfg config.Config
	srv http.Handler
	ln  net.Listener
}

// devConsoles are the consoles of demo-bank and demo-police ("local"
// users on loopback), clients of the dev gateway with the orgs'
// certificates and tokens from the dev token endpoint.
func devConsoles(f devFlags, apiPort string) ([]devConsole, error) {
	var out []devConsole
	for _, c := range []struct{ listen, file string }{{f.bankConsole, "bank"}, {f.policeConsole, "police"}} {
		if c.listen == "" {
			continue
		}
		cfg := config.Default()
		k := &cfg.Console
		k.Listen = c.listen
		k.API.URL = "https://localhost:" + apiPort
		k.API.CertFile, k.API.KeyFile = filepath.Join(f.dir, c.file+".pem"), filepath.Join(f.dir, c.file+"-key.pem")
		k.API.CAFile = filepath.Join(f.dir, "ca.pem")
		k.API.TokenURL = "https://localhost:" + portOrEmpty(f.tokenListen) + "/oauth2/token"
		if err := cfg.ValidateConsole(); err != nil {
			return nil, err
		}
		srv, err := newConsole(cfg, newLogger(io.Discard, "info"))
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", c.listen)
		if err != nil {
			return nil, fmt.Errorf("--%s-console: %w", c.file, err)
		}
		out = append(out, devConsole{org: c.file, cfg: cfg, srv: srv, ln: ln})
	}
	return out, nil
}

// devRedis starts the embedded miniredis unless addr names a real Redis.
func devRedis(addr string) (string, func(), error) {
	if addr != "" {
		return addr, func() {}, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return "", nil, fmt.Errorf("embedded redis: %w", err)
	}
	return mr.Addr(), mr.Close, nil
}

// devPoliceStore binds the embedded police store simulator.
func devPoliceStore(listen string) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--police-listen: %w", err)
	}
	srv, _, err := newSimServer(policesim.New(policesim.Faults{}), "", "", "")
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return srv, ln, nil
}

// devConfig is the development configuration: the dev PKI, forwarders
// tuned so that a demo outage shows the breaker opening within seconds,
// and the demo orgs. MULEGATE_* variables still apply (e.g.
// MULEGATE_LOG_LEVEL=debug).
func devConfig(f devFlags, redisAddr, policeURL string, getenv func(string) string) (config.Config, error) {
	cfg := config.Default()
	cfg.API.Listen = f.listen
	cfg.Ops.Listen = f.opsListen
	cfg.Ops.Pprof = f.pprof
	cfg.API.CertFile = filepath.Join(f.dir, "server.pem")
	cfg.API.KeyFile = filepath.Join(f.dir, "server-key.pem")
	cfg.API.ClientCAFile = filepath.Join(f.dir, "ca.pem")
	cfg.Auth.Issuer = devIssuer
	cfg.Auth.Audience = devAudience
	cfg.Auth.JWKSFile = filepath.Join(f.dir, "jwks.json")
	cfg.Auth.JWKSRefresh = config.Duration(10 * time.Second)
	cfg.Redis.Addrs = strings.Split(redisAddr, ",")
	cfg.Redis.Cluster = len(cfg.Redis.Addrs) > 1
	secret, err := devSecret(f.dir)
	if err != nil {
		return cfg, err
	}
	cfg.Storage.PseudonymSecret = secret
	cfg.Police.URL = policeURL
	cfg.Audit.Path = filepath.Join(f.dir, "audit.jsonl") // keeps the terminal for the commands
	cfg.Evidence.SigningKeyFile, cfg.Evidence.KeyID = filepath.Join(f.dir, "answers-key.pem"), "dev-answers-1"
	cfg.Evidence.Origin = devOrigin
	cfg.Evidence.CheckpointKeyFile = filepath.Join(f.dir, "checkpoint.key")
	cfg.Evidence.CheckpointInterval = config.Duration(time.Second) // the printed walk finds its checkpoint at once
	cfg.Forward.Workers = 2
	cfg.Forward.SweepInterval = config.Duration(2 * time.Second)
	cfg.Forward.VisibilityTimeout = config.Duration(10 * time.Second)
	cfg.Forward.BackoffMax = config.Duration(2 * time.Second)
	cfg.Breaker.OpenFor = config.Duration(3 * time.Second)
	// Development and load scripts drive one demo org hard: its limits are
	// far above what one machine sends (the limiter still runs).
	high := config.LimitSet{LookupsPerSecond: 1_000_000, LookupsBurst: 1_000_000, WritesPerSecond: 1_000_000, WritesBurst: 1_000_000,
		WritesPerDay: 1_000_000_000}
	cfg.Limits.Types = map[string]config.LimitSet{"bank": high, "marketplace": high, "police": high}
	cfg.Orgs = nil
	for _, o := range devOrgs {
		cfg.Orgs = append(cfg.Orgs, config.Org{ID: o.ID, Type: o.Type, BankCodes: o.BankCodes})
	}
	if err := config.ApplyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	err = cfg.Validate()
	return cfg, err
}

// devTokens mints one token per demo org, bound to its certificate.
func devTokens(dir string, ttl time.Duration) (map[string]string, error) {
	signer, err := devenv.LoadSigner(filepath.Join(dir, "signing-key.pem"), devKid)
	if err != nil {
		return nil, err
	}
	tokens := map[string]string{}
	for _, o := range devOrgs {
		cert, err := devenv.LoadCert(filepath.Join(dir, o.File+".pem"))
		if err != nil {
			return nil, err
		}
		leaf := &devenv.Leaf{Cert: cert}
		tok, err := signer.Token(devenv.TokenSpec{Issuer: devIssuer, Audience: devAudience, Subject: o.ID + "-dev-client",
			Org: o.ID, Scope: o.Scope, Thumbprint: leaf.Thumbprint(), TTL: ttl}, nil)
		if err != nil {
			return nil, err
		}
		tokens[o.File] = tok
	}
	return tokens, nil
}

func printDevBanner(w io.Writer, f devFlags, apiPort string, cfg config.Config, tokens map[string]string, consoles []devConsole) error {
	redisNote := "Redis at " + strings.Join(cfg.Redis.Addrs, ",")
	if f.redis == "" {
		redisNote = "embedded miniredis (in memory, gone when this process stops)"
	}
	absDir, err := filepath.Abs(f.dir)
	if err != nil {
		return err
	}
	return devBanner.Execute(w, map[string]any{
		"Dir": f.dir, "AbsDir": absDir, "Port": apiPort, "Ops": f.opsListen, "Tokens": tokens, "Redis": redisNote,
		"Police": cfg.Police.URL, "TokenPort": portOrEmpty(f.tokenListen), "Bin": executableDir(), "Consoles": consoleAddrs(consoles),
	})
}

// consoleAddrs are the consoles' addresses by org file name.
func consoleAddrs(cs []devConsole) map[string]string {
	out := map[string]string{}
	for _, c := range cs {
		out[c.org] = "http://" + c.ln.Addr().String()
	}
	return out
}

// executableDir is the folder of the running binary ("." if unknown).
func executableDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

func portOrEmpty(listen string) string {
	_, port, _ := net.SplitHostPort(listen)
	return port
}

func portOf(listen string) (string, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen: %w", err)
	}
	if port == "0" {
		return "", errors.New("--listen: dev mode needs a fixed port so that the printed commands work")
	}
	return port, nil
}

// devCertFiles are the demo orgs' certificate files.
func devCertFiles() []string {
	var out []string
	for _, o := range devOrgs {
		out = append(out, o.File+".pem")
	}
	return out
}

// writeDevPKI makes the development CA, the server certificate, one client
// certificate per demo org, the signing key and its JWKS. Existing files
// are kept, so certificates and tokens stay valid across restarts.
func writeDevPKI(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	have := true // a folder from an older build may lack a newer org's certificate: made again whole
	for _, f := range append([]string{"jwks.json"}, devCertFiles()...) {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			have = false
		}
	}
	if have {
		return nil
	}
	ca, err := devenv.NewCA("mulegate development CA (NOT FOR PRODUCTION)")
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.pem": ca.CertPEM()}
	srv, err := ca.IssueServer("localhost", "127.0.0.1", "::1")
	if err != nil {
		return err
	}
	files["server.pem"], files["server-key.pem"] = srv.CertPEM(), srv.KeyPEM()
	for _, o := range devOrgs {
		leaf, err := ca.IssueClient(o.ID)
		if err != nil {
			return err
		}
		files[o.File+".pem"], files[o.File+"-key.pem"] = leaf.CertPEM(), leaf.KeyPEM()
	}
	signer, err := devenv.NewSigner(devKid)
	if err != nil {
		return err
	}
	if files["signing-key.pem"], err = signer.KeyPEM(); err != nil {
		return err
	}
	files["jwks.json"] = devenv.JWKS(signer)
	for name, data := range files {
		if name == "jwks.json" {
			continue // written last: its presence marks a complete set
		}
		if _, err := devenv.WriteFile(dir, name, data, 0o600); err != nil {
			return err
		}
	}
	_, err = devenv.WriteFile(dir, "jwks.json", files["jwks.json"], 0o644)
	return err
}

func devSecret(dir string) (string, error) {
	p := filepath.Join(dir, "pseudonym-secret")
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s, os.WriteFile(p, []byte(s+"\n"), 0o600)
}

var devBanner = template.Must(template.New("banner").Parse(`
==========================================================================
 mulegate DEVELOPMENT gateway — NOT FOR PRODUCTION
 Development CA, certificates, signing key and JWKS in {{.Dir}}/
 Storage: {{.Redis}}
==========================================================================

Paste into a shell in this folder:

  export MG=https://localhost:{{.Port}}
  export BANK_TOKEN={{index .Tokens "bank"}}
  export MARKET_TOKEN={{index .Tokens "market"}}
  export POLICE_TOKEN={{index .Tokens "police"}}
  export VICTIM_TOKEN={{index .Tokens "victim"}}
  export TOKEN_URL=https://localhost:{{.TokenPort}}/oauth2/token
  export OPS=http://{{.Ops}}{{with .Consoles.bank}}
  export BANK_CONSOLE={{.}}{{end}}{{with .Consoles.police}}
  export POLICE_CONSOLE={{.}}{{end}}
  bank()   { curl -sS --cacert {{.Dir}}/ca.pem --cert {{.Dir}}/bank.pem   --key {{.Dir}}/bank-key.pem   -H "Authorization: Bearer $BANK_TOKEN"   "$@"; echo; }
  market() { curl -sS --cacert {{.Dir}}/ca.pem --cert {{.Dir}}/market.pem --key {{.Dir}}/market-key.pem -H "Authorization: Bearer $MARKET_TOKEN" "$@"; echo; }
  police() { curl -sS --cacert {{.Dir}}/ca.pem --cert {{.Dir}}/police.pem --key {{.Dir}}/police-key.pem -H "Authorization: Bearer $POLICE_TOKEN" "$@"; echo; }
  victim() { curl -sS --cacert {{.Dir}}/ca.pem --cert {{.Dir}}/victim.pem --key {{.Dir}}/victim-key.pem -H "Authorization: Bearer $VICTIM_TOKEN" "$@"; echo; }

{{if .Consoles}}The web consoles, in a browser (you are "local"; every action is an API call
as the org, audited with actor "local"):{{with .Consoles.bank}} demo-bank's at {{.}}{{end}}{{with .Consoles.police}}
and demo-police's at {{.}}{{end}}.

{{end}}Or the mulegate CLI, as the bank (built on the Go client package
github.com/mulegate/mulegate/client; one JSON object per line):

  export PATH="{{.Bin}}:$PATH"   # the mulegate running this ('go run' builds it in a temporary folder)
  export MULEGATE_CLIENT_URL=$MG MULEGATE_CLIENT_CA={{.Dir}}/ca.pem MULEGATE_CLIENT_TOKEN=$BANK_TOKEN
  export MULEGATE_CLIENT_CERT={{.Dir}}/bank.pem MULEGATE_CLIENT_KEY={{.Dir}}/bank-key.pem
  mulegate lookup NL91ABNA0417164300 DE89370400440532013000
  # mulegate events --follow   (the bank's feed as it comes; Ctrl-C stops, --after CURSOR resumes)

Tokens as in production: an OAuth 2.0 token endpoint (client credentials,
the client certificate as the credential, RFC 8705 certificate-bound
RFC 9068 access tokens); the CLI and the Go client fetch and refresh them:

  curl -sS --cacert {{.Dir}}/ca.pem --cert {{.Dir}}/bank.pem --key {{.Dir}}/bank-key.pem \
    -d grant_type=client_credentials -d scope='ibans:read' $TOKEN_URL; echo
  MULEGATE_CLIENT_TOKEN= MULEGATE_CLIENT_TOKEN_URL=$TOKEN_URL mulegate lookup --purpose payment_check NL91ABNA0417164300

Look up an IBAN (a never-reported IBAN answers with counts 0, risk "none"):

  bank $MG/v1/ibans/NL91ABNA0417164300

Report it as the marketplace (Idempotency-Key is required; repeat the same
command and you get the same answer with Idempotent-Replayed: true):

  market -i -X POST $MG/v1/reports -H 'Content-Type: application/json' -H 'Idempotency-Key: case-4711' \
    -d '{"iban":"NL91 ABNA 0417 1643 00","category":"marketplace_fraud","amount":{"value":"249.95","currency":"EUR"},"reference":"case-4711"}'

Report it as the bank too, then look it up again:

  bank -X POST $MG/v1/reports -H 'Content-Type: application/json' -H 'Idempotency-Key: bank-case-1' \
    -d '{"iban":"NL91ABNA0417164300","category":"helpdesk_fraud","description":"caller posed as our helpdesk"}'
  bank $MG/v1/ibans/NL91ABNA0417164300

Batch lookup (invalid entries get their own error and do not fail the batch):

  bank -X POST $MG/v1/ibans/lookup -H 'Content-Type: application/json' \
    -d '{"ibans":["NL91ABNA0417164300","DE89370400440532013000","NL00BOGUS"]}'

Status of a report: the submitting org, the bank that holds the account
(demo-bank holds DE 37040044; it also sees the IBAN) and the police see
it, nobody else. It is forwarded to the police store within a moment:

  LOCATION=$(market -o /dev/null -w '%header{location}' -X POST $MG/v1/reports -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: case-4712' -d '{"iban":"DE89370400440532013000","category":"phishing"}')
  sleep 1
  market $MG$LOCATION
  police $MG$LOCATION
  bank $MG$LOCATION

The holding bank heard of the report in its event feed (it can also
long-poll with wait= or stream /v1/events/stream):

  bank "$MG/v1/events?types=report.received&limit=10"

The holder answers: acknowledge, then close as agreed. The lookup now
shows the report confirmed (risk high, with its reasons), and the police
store receives the review events after the report:

  bank -X POST $MG$LOCATION/acknowledge
  bank -X POST $MG$LOCATION/close -H 'Content-Type: application/json' -d '{"result":"agreed","fraud_type":"mule_account","details":"account frozen"}'
  bank $MG/v1/ibans/DE89370400440532013000
  sleep 2
  curl -sS {{.Police}}/_sim/reports/${LOCATION##*/}; echo

Getting the money back (funds recovery, modelled on Brazil's MED): the
victim's bank (demo-victim) reports the account its customer paid, then
asks the bank that holds it (demo-bank) to block the money and return it
to the customer's account; demo-bank holds part of it and returns that.
Each side hears of the other's steps in its own feed; the lookup shows
the amounts reported and what came back:

  REC=$(victim -o /dev/null -w '%header{location}' -X POST $MG/v1/reports -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: victim-1' -d '{"iban":"NL91ABNA0417164300","category":"helpdesk_fraud","amount":{"value":"1200.00","currency":"EUR"}}')
  victim -X POST $MG$REC/recovery -H 'Content-Type: application/json' \
    -d '{"amount":{"value":"1200.00","currency":"EUR"},"return_to":"GB82WEST12345698765432","details":"paid at 14:02 to a fake helpdesk"}'
  bank -X POST $MG$REC/recovery/hold -H 'Content-Type: application/json' -d '{"amount":{"value":"800.00","currency":"EUR"}}'
  bank -X POST $MG$REC/recovery/return -H 'Content-Type: application/json' -d '{"amount":{"value":"800.00","currency":"EUR"},"reference":"RET-0001"}'
  sleep 1
  bank "$MG/v1/events?types=recovery.requested"
  victim "$MG/v1/events?types=recovery.held,recovery.returned"
  victim $MG/v1/ibans/NL91ABNA0417164300

Following the money (onward transfers, modelled on MED 2.0): demo-bank
says where the money of that report went on to, a French account it holds
and a British one at demo-victim. Each transfer becomes a linked report
(hop 1), routed to its holder and sent to the police after its source.
Once demo-bank closes the first report agreed, the French account is one
hop from a confirmed mule: risk medium with a single reporter:

  mulegate onward ${REC##*/} --transfer FR1420041010050500013M02606=300 --transfer GB82WEST12345698765432=100 --idempotency-key onward-1
  mulegate chain ${REC##*/}
  bank -X POST $MG$REC/close -H 'Content-Type: application/json' -d '{"result":"agreed","fraud_type":"mule_account"}'
  sleep 1
  mulegate lookup FR1420041010050500013M02606

Correcting the record: the French account's holder turns out to be a
victim of an account takeover. demo-bank says so (taken_over), the police
clear the IBAN: its reports stop counting at once, and every org that
looked it up, reported it or holds it gets iban.corrected in its feed
within seconds. demo-bank answers its customer's access request with the
record (no police lookups in it, no marker's origin):

  bank -X PUT $MG/v1/ibans/FR1420041010050500013M02606/status -H 'Content-Type: application/json' -d '{"status":"taken_over"}'
  police -X POST $MG/v1/ibans/FR1420041010050500013M02606/clear -H 'Content-Type: application/json' -d '{"reason":"investigation_closed"}'
  bank $MG/v1/ibans/FR1420041010050500013M02606
  for i in $(seq 40); do bank "$MG/v1/events?types=iban.corrected" | grep -q iban.corrected && break; sleep 0.25; done
  bank "$MG/v1/events?types=iban.corrected"
  mulegate record FR1420041010050500013M02606

Evidence: ask for a signed answer (Prefer: signed) and check it offline
against the gateway's keys; its "audit" names the record of the request
in {{.Dir}}/audit.jsonl, which holds the body's SHA-256:

  bank -D answer.headers -o answer.json -H 'Prefer: signed' $MG/v1/ibans/NL91ABNA0417164300
  bank $MG/v1/evidence/keys > answer-keys.json
  mulegate evidence verify --keys answer-keys.json --signature "$(sed -n 's/^mulegate-signature: //Ip' answer.headers | tr -d '\r')" answer.json

Police alerts: the police push an alert about an IBAN; it is routed to the
bank whose bank codes hold it (demo-bank: NL ABNA, DE 37040044, BE 539,
FR 20041). The bank reads its feed, long-polls, or streams (SSE):

  police -i -X POST $MG/v1/alerts -H 'Content-Type: application/json' -H 'Idempotency-Key: alert-1' \
    -d '{"iban":"NL91ABNA0417164300","severity":"critical","message":"confirmed money mule: freeze the account","reference":"POL-2026-1234"}'
  bank "$MG/v1/alerts?limit=10"
  (sleep 1; police -o /dev/null -X POST $MG/v1/alerts -H 'Content-Type: application/json' \
    -d '{"iban":"DE89370400440532013000","severity":"warning","message":"under investigation","reference":"POL-2026-1235"}') &
  CURSOR=$(bank "$MG/v1/alerts?limit=10" | sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p')
  bank "$MG/v1/alerts?after=$CURSOR&wait=10"
  bank -N --max-time 3 -H "Last-Event-ID: $CURSOR" $MG/v1/alerts/stream || true   # SSE; ends after 3 s here

The embedded police store simulator ({{.Police}}): what it received, then
an outage: take it down, keep reporting (intake still answers 202), watch
the breaker open, bring it back and see everything delivered:

  curl -sS {{.Police}}/_sim/stats; echo
  curl -sS -X PUT {{.Police}}/_sim/faults -d '{"down":true}'; echo
  for i in 1 2 3 4 5 6; do market -o /dev/null -w '%{http_code} ' -X POST $MG/v1/reports -H 'Content-Type: application/json' -H "Idempotency-Key: outage-$i" -d '{"iban":"BE68539007547034","category":"phishing"}'; done
  for i in $(seq 40); do curl -sS http://{{.Ops}}/readyz | grep -q '"police_breaker":"open"' && break; sleep 0.5; done
  curl -sS http://{{.Ops}}/readyz; echo
  curl -sS http://{{.Ops}}/metrics | grep -E '^mulegate_(police_breaker_state|forward_attempts_total)'
  curl -sS -X PUT {{.Police}}/_sim/faults -d '{}'; echo
  sleep 8
  curl -sS {{.Police}}/_sim/stats; echo

Health, readiness and metrics (plain HTTP, loopback only):

  curl -sS http://{{.Ops}}/readyz; echo
  curl -sS http://{{.Ops}}/metrics | grep -E '^mulegate_(http_requests_total|token_cache)'

Mint another token (e.g. a shorter one):

  go run ./cmd/mulegate token --dir {{.Dir}} --org demo-bank --cert {{.Dir}}/bank.pem --ttl 10m

`))

// writeDevEvidenceKeys makes the answer-signing key (answers-key.pem, EC
// P-256) and the checkpoint signed-note key pair (checkpoint.key, and
// checkpoint.pub for verifiers), keeping existing ones.
func writeDevEvidenceKeys(dir string) error { return writeEvidenceKeys(dir, devOrigin) }

// writeEvidenceKeys writes the keys writeDevEvidenceKeys describes, the
// checkpoint key named name (the origin), keeping existing ones.
func writeEvidenceKeys(dir, name string) error {
	answers := filepath.Join(dir, "answers-key.pem")
	if _, err := os.Stat(answers); err != nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return err
		}
		if _, err := devenv.WriteFile(dir, "answers-key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoint.key")); err != nil {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			return err
		}
		if _, err := devenv.WriteFile(dir, "checkpoint.pub", []byte(vkey+"\n"), 0o644); err != nil {
			return err
		}
		if _, err := devenv.WriteFile(dir, "checkpoint.key", []byte(skey+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// devOrigin is the dev gateway's evidence origin (and checkpoint key name).
const devOrigin = "mulegate/dev"
