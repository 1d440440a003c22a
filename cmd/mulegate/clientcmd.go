package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mulegate/mulegate/client"
)

// The integrator commands: lookup, report, events, review. They are built
// on the client package (the same retries and types a bank's own Go code
// gets) and print one JSON object per line, for scripts and jq.

// clientFlags are the connection flags every client command takes, each
// with a MULEGATE_CLIENT_* default.
type clientFlags struct{ url, cert, key, ca, token, tokenURL, purpose *string }

func addClientFlags(fs *flag.FlagSet, getenv func(string) string) clientFlags {
	return clientFlags{
		url:   fs.String("url", getenv("MULEGATE_CLIENT_URL"), "gateway API, e.g. https://localhost:8443 (MULEGATE_CLIENT_URL)"),
		cert:  fs.String("cert", getenv("MULEGATE_CLIENT_CERT"), "client certificate, PEM (MULEGATE_CLIENT_CERT)"),
		key:   fs.String("key", getenv("MULEGATE_CLIENT_KEY"), "client key, PEM (MULEGATE_CLIENT_KEY)"),
		ca:    fs.String("ca", getenv("MULEGATE_CLIENT_CA"), "CA of the gateway's certificate, PEM; empty for the system roots (MULEGATE_CLIENT_CA)"),
		token: fs.String("token", getenv("MULEGATE_CLIENT_TOKEN"), "bearer token bound to the certificate (MULEGATE_CLIENT_TOKEN)"),
		tokenURL: fs.String("token-url", getenv("MULEGATE_CLIENT_TOKEN_URL"),
			"OAuth 2.0 token endpoint to fetch tokens from with the client certificate, when no --token (MULEGATE_CLIENT_TOKEN_URL)"),
		purpose: fs.String("purpose", getenv("MULEGATE_CLIENT_PURPOSE"),
			"X-Purpose the gateway audits: payment_check, onboarding, investigation, monitoring or other (MULEGATE_CLIENT_PURPOSE)"),
	}
}

// clientFlagSet is a client command's flag set with the connection flags.
func clientFlagSet(name string, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, clientFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, addClientFlags(fs, getenv)
}

func (f clientFlags) client() (*client.Client, error) {
	if *f.url == "" || (*f.token == "" && *f.tokenURL == "") {
		return nil, errors.New("give --url and --token or --token-url (or MULEGATE_CLIENT_URL and MULEGATE_CLIENT_TOKEN or _TOKEN_URL); 'mulegate dev' prints them")
	}
	cfg := client.Config{BaseURL: *f.url, CertFile: *f.cert, KeyFile: *f.key, CAFile: *f.ca, TokenURL: *f.tokenURL,
		Purpose: *f.purpose, UserAgent: "mulegate-cli"}
	if *f.token != "" {
		cfg.Token = client.StaticToken(*f.token)
	}
	return client.New(cfg)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// cmdLookup is "mulegate lookup IBAN…": one IBAN with GET, more in one batch.
func cmdLookup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("lookup", getenv, stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: mulegate lookup [flags] IBAN…"); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if fs.NArg() == 1 {
		l, err := c.Lookup(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return printJSON(stdout, l)
	}
	res, err := c.LookupMany(ctx, fs.Args())
	if err != nil {
		return err
	}
	for _, r := range res {
		var v any = r.Lookup
		if r.Error != nil {
			v = r.Error
		}
		if err := printJSON(stdout, v); err != nil {
			return err
		}
	}
	return nil
}

// cmdReport is "mulegate report --iban … --category …" (submit) and
// "mulegate report show ID".
func cmdReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "show" {
		fs, cf := clientFlagSet("report show", getenv, stderr)
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: mulegate report show [flags] REPORT_ID")
			return errUsage
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		st, err := c.Report(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return printJSON(stdout, st)
	}
	fs, cf := clientFlagSet("report", getenv, stderr)
	ib := fs.String("iban", "", "the IBAN paid to (required)")
	cat := fs.String("category", "", "helpdesk_fraud, marketplace_fraud, phishing, investment_fraud, romance_fraud, ransomware, money_mule or other (required)")
	ref := fs.String("reference", "", "your own case id")
	desc := fs.String("description", "", "free text")
	occurred := fs.String("occurred-at", "", "when the fraud happened, RFC 3339")
	amount := fs.String("amount", "", "amount paid, e.g. 249.95")
	currency := fs.String("currency", "EUR", "currency of --amount")
	key := fs.String("idempotency-key", "", "Idempotency-Key (default: a new random one, printed; give it again to repeat the same report)")
	if err := fs.Parse(args); err != nil || *ib == "" || *cat == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: mulegate report [flags] --iban IBAN --category CATEGORY   |   mulegate report show REPORT_ID")
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	r := client.ReportRequest{IBAN: *ib, Category: client.Category(*cat), Reference: *ref, Description: *desc}
	if *occurred != "" {
		t, err := time.Parse(time.RFC3339, *occurred)
		if err != nil {
			return fmt.Errorf("--occurred-at: %w", err)
		}
		r.OccurredAt = t
	}
	if *amount != "" {
		r.Amount = client.Amount{Currency: *currency, Value: *amount}
	}
	if *key == "" {
		*key = client.NewIdempotencyKey()
	}
	a, replayed, err := c.SubmitReport(ctx, *key, r)
	if err != nil {
		return fmt.Errorf("%w (Idempotency-Key %s: retry with the same key)", err, *key)
	}
	return printJSON(stdout, struct {
		*client.Accepted
		IdempotencyKey string `json:"idempotency_key"`
		Replayed       bool   `json:"replayed"`
	}{a, *key, replayed})
}

// cmdEvents is "mulegate events [--after C] [--types …] [--follow]": the
// bank's event feed, one event per line with the cursor to resume from.
func cmdEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("events", getenv, stderr)
	after := fs.String("after", "", "cursor to resume from (the last line's cursor)")
	types := fs.String("types", "", "comma-separated event types, e.g. report.received,report.cancelled")
	follow := fs.Bool("follow", false, "keep waiting for new events (long poll) until interrupted")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	o := client.FeedOptions{After: *after, Follow: *follow}
	if *types != "" {
		for t := range strings.SplitSeq(*types, ",") {
			o.Types = append(o.Types, client.EventType(t))
		}
	}
	for it, err := range c.Events(ctx, o) {
		if err != nil {
			if ctx.Err() != nil { // interrupted while following: a clean stop
				return nil
			}
			return err
		}
		if err := printJSON(stdout, it.Item); err != nil {
			return err
		}
	}
	return nil
}

// cmdReview is "mulegate review acknowledge|close|cancel ID [flags]".
func cmdReview(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := "usage: mulegate review acknowledge ID | close ID --result agreed|disagreed [--fraud-type T] [--details D] | cancel ID [--reason R]"
	if len(args) < 2 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	action, id := args[0], args[1]
	fs, cf := clientFlagSet("review "+action, getenv, stderr)
	result := fs.String("result", "", "close: agreed or disagreed")
	ft := fs.String("fraud-type", "", "close, agreed: mule_account, scammer_account, account_takeover or other")
	details := fs.String("details", "", "close: what the bank found")
	reason := fs.String("reason", "", "cancel: why the report is withdrawn")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var st *client.ReportStatus
	switch action {
	case "acknowledge":
		st, err = c.AcknowledgeReport(ctx, id)
	case "close":
		st, err = c.CloseReport(ctx, id, client.CloseRequest{Result: client.ReviewResult(*result), FraudType: client.FraudType(*ft), Details: *details})
	case "cancel":
		st, err = c.CancelReport(ctx, id, client.CancelRequest{Reason: *reason})
	default:
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, st)
}

// cmdRecovery is "mulegate recovery request|hold|return|reject|release ID
// [...]": a report's funds recovery, through the client.
func cmdRecovery(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := "usage: mulegate recovery request ID --amount V --currency C [--details D] [--return-to IBAN] [--end-to-end-id E]" +
		" | hold ID --amount V --currency C | return ID --amount V --currency C [--reference R]" +
		" | reject ID --reason no_balance|account_closed|not_fraud|funds_moved|other [--details D] | release ID"
	if len(args) < 2 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	action, id := args[0], args[1]
	fs, cf := clientFlagSet("recovery "+action, getenv, stderr)
	amount := fs.String("amount", "", "request, hold, return: the amount's value, e.g. 249.95")
	currency := fs.String("currency", "EUR", "request, hold, return: the amount's ISO 4217 currency")
	details := fs.String("details", "", "request, reject: free text")
	returnTo := fs.String("return-to", "", "request: the IBAN the money goes back to")
	e2e := fs.String("end-to-end-id", "", "request: the payment's end-to-end id")
	reference := fs.String("reference", "", "return: the return payment's reference")
	reason := fs.String("reason", "", "reject: no_balance, account_closed, not_fraud, funds_moved or other")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	amt := client.Amount{Value: *amount, Currency: *currency}
	var r *client.Recovery
	switch action {
	case "request":
		req := client.RecoveryRequest{Amount: amt, Details: *details, ReturnTo: *returnTo}
		if *e2e != "" {
			req.Payment = &client.Payment{EndToEndID: *e2e}
		}
		r, err = c.RequestRecovery(ctx, id, req)
	case "hold":
		r, err = c.HoldRecovery(ctx, id, amt)
	case "return":
		r, err = c.ReturnRecovery(ctx, id, client.RecoveryReturn{Amount: amt, Reference: *reference})
	case "reject":
		r, err = c.RejectRecovery(ctx, id, client.RecoveryReject{Reason: client.RejectReason(*reason), Details: *details})
	case "release":
		r, err = c.ReleaseRecovery(ctx, id)
	default:
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, r)
}

// transfersFlag collects --transfer IBAN=AMOUNT flags.
type transfersFlag []string

func (f *transfersFlag) String() string     { return strings.Join(*f, " ") }
func (f *transfersFlag) Set(v string) error { *f = append(*f, v); return nil }

// cmdOnward is "mulegate onward ID --transfer IBAN=AMOUNT [...]": the
// holder says where a report's money went on (each transfer a linked
// report), and "mulegate chain ID" shows the chain.
func cmdOnward(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := "usage: mulegate onward ID --transfer IBAN=AMOUNT [--transfer …] [--currency EUR] [--at TIME] [--idempotency-key K]"
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	id := args[0]
	fs, cf := clientFlagSet("onward", getenv, stderr)
	var transfers transfersFlag
	fs.Var(&transfers, "transfer", "IBAN=AMOUNT of one onward transfer (repeat for more)")
	currency := fs.String("currency", "EUR", "the transfers' ISO 4217 currency")
	at := fs.String("at", "", "when the money left, RFC 3339 (default: now)")
	key := fs.String("idempotency-key", "", "Idempotency-Key (default: a new random one, printed; give it again to repeat)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 || len(transfers) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	when := time.Now().UTC()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("--at: %w", err)
		}
		when = t
	}
	var ts []client.Transfer
	for _, tr := range transfers {
		ib, amount, ok := strings.Cut(tr, "=")
		if !ok {
			return fmt.Errorf("--transfer %q: want IBAN=AMOUNT", tr)
		}
		ts = append(ts, client.Transfer{IBAN: ib, Amount: client.Amount{Value: amount, Currency: *currency}, At: when})
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if *key == "" {
		*key = client.NewIdempotencyKey()
	}
	a, replayed, err := c.ReportOnward(ctx, id, *key, ts)
	if err != nil {
		return fmt.Errorf("%w (Idempotency-Key %s: retry with the same key)", err, *key)
	}
	return printJSON(stdout, struct {
		*client.OnwardAnswer
		IdempotencyKey string `json:"idempotency_key"`
		Replayed       bool   `json:"replayed"`
	}{a, *key, replayed})
}

// cmdChain is "mulegate chain ID".
func cmdChain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: mulegate chain ID")
		return errUsage
	}
	fs, cf := clientFlagSet("chain", getenv, stderr)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: mulegate chain ID")
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ch, err := c.Chain(ctx, args[0])
	if err != nil {
		return err
	}
	return printJSON(stdout, ch)
}
