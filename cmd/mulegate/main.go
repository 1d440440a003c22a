// Command mulegate is the bank-side gateway for suspicious IBANs. main only
// calls run; run parses the subcommand and is the one place that builds
// concrete types and wires them together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gin-gonic/gin"
)

// Gin's mode is process-wide: release mode, once, before anything builds
// an API (debug mode prints every route; the gateway has its own access
// log). In init, so the tests that call run get it too.
func init() { gin.SetMode(gin.ReleaseMode) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, errUsage) && helpAsked(os.Args[1:]) {
			return // the usage was asked for, and printed: not a failure
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "mulegate:", err)
		}
		os.Exit(1)
	}
}

// helpAsked says whether the command line asks for help (-h, -help,
// --help anywhere).
func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

var errUsage = errors.New("usage")

// defaultGCPercent is the garbage collector's target unless GOGC says
// otherwise. The gateway's live heap is small (tens of MB) and each
// request allocates a few KB, so at Go's default of 100 it collects tens
// of times a second; at 400 it collects a quarter as often for a heap
// that peaks at five times the live one. GOMEMLIMIT still caps it.
const defaultGCPercent = 400

const usage = `mulegate — bank-side gateway for suspicious IBANs (money-mule accounts)

Usage:
  mulegate serve --config FILE      run the gateway (API over mTLS, ops listener)
  mulegate forward --config FILE    run outbox forwarders only (no API)
  mulegate outbox requeue --config FILE (--report ID | --all-rejected)
                                    put reports the police store rejected back in the outbox
  mulegate migrate --config FILE    bring a Redis of an older mulegate to the current layout (stop the gateways first)
  mulegate audit verify FILE [--checkpoints F --note-key K]        check an audit trail's hash chain (and its signed checkpoints)
  mulegate audit prove FILE --seq N [--size M] [--origin O]        a record's inclusion proof, offline
  mulegate console --config FILE    the web console of one org (its fraud analysts or officers)
  mulegate console passwd NAME      print a console users file line (the password read from stdin)
  mulegate policestore-sim          run the police core store simulator
  mulegate dev [--redis ADDR]       run a complete development gateway (NOT FOR PRODUCTION)
  mulegate token [flags]            mint a development token bound to a client certificate
  mulegate iban IBAN...             validate IBANs offline
  mulegate evidence verify --keys JWKS --signature SIG [--record … --proof … --checkpoint … --note-key …] BODY
                                    check a signed answer (and its record in the trail) offline; exit 1: it does not verify
  mulegate evidence keygen --dir DIR --origin O   make the answer-signing and checkpoint keys

For integrators (flags or MULEGATE_CLIENT_URL, _CERT, _KEY, _CA, _TOKEN; one JSON object per line):
  mulegate lookup IBAN...           look IBANs up (one: GET, more: one batch)
  mulegate report --iban I --category C [...]   report an IBAN (retried with the same Idempotency-Key)
  mulegate report show ID           a report's status and review
  mulegate events [--follow]        the bank's event feed, resumable with --after CURSOR
  mulegate review acknowledge|close|cancel ID [...]   answer or withdraw a report
  mulegate recovery request|hold|return|reject|release ID [...]   ask for, block, return or refuse a report's money
  mulegate onward ID --transfer IBAN=AMOUNT [...]   say where a report's money went on (linked reports)
  mulegate chain ID                                 the chain a report belongs to
  mulegate status set IBAN STATUS [--details D] | status clear IBAN   the holding bank's word on its account
  mulegate clear IBAN --reason R [--details D] | clear IBAN --withdraw   the police clear an IBAN (or withdraw one made in error)
  mulegate record IBAN                              everything the gateway holds about an IBAN (access request)
  mulegate health [--url U]         exit 0 when the ops endpoint answers 200 (a container HEALTHCHECK)
  mulegate config check --config FILE   load and validate a configuration; lists every problem (exit 1)
  mulegate version                  the build: module version, VCS revision and time, Go version
  mulegate help                     show this help

Run 'mulegate COMMAND -h' for the flags of a command.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "forward":
		return cmdForward(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return cmdAudit(args[1:], stdout, stderr)
	case "outbox":
		return cmdOutbox(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "policestore-sim":
		return cmdPoliceSim(ctx, args[1:], stdout, stderr)
	case "dev":
		return cmdDev(ctx, args[1:], getenv, stdout, stderr)
	case "console":
		return cmdConsole(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "iban":
		return cmdIBAN(args[1:], stdout)
	case "lookup":
		return cmdLookup(ctx, args[1:], getenv, stdout, stderr)
	case "report":
		return cmdReport(ctx, args[1:], getenv, stdout, stderr)
	case "events":
		return cmdEvents(ctx, args[1:], getenv, stdout, stderr)
	case "review":
		return cmdReview(ctx, args[1:], getenv, stdout, stderr)
	case "recovery":
		return cmdRecovery(ctx, args[1:], getenv, stdout, stderr)
	case "onward":
		return cmdOnward(ctx, args[1:], getenv, stdout, stderr)
	case "chain":
		return cmdChain(ctx, args[1:], getenv, stdout, stderr)
	case "status":
		return cmdStatus(ctx, args[1:], getenv, stdout, stderr)
	case "clear":
		return cmdClear(ctx, args[1:], getenv, stdout, stderr)
	case "record":
		return cmdRecord(ctx, args[1:], getenv, stdout, stderr)
	case "evidence":
		return cmdEvidence(args[1:], stdout, stderr)
	case "health":
		return cmdHealth(ctx, args[1:], stdout, stderr)
	case "config":
		return cmdConfig(args[1:], getenv, stdout, stderr)
	case "version", "--version":
		return cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return errUsage
}
