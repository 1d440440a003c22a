package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mulegate/mulegate/internal/config"
	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/store"
	"github.com/mulegate/mulegate/internal/store/migrate"
)

// cmdOutbox is "mulegate outbox requeue --config FILE --report ID |
// --all-rejected": it puts reports the police store rejected (400/422)
// back in the outbox, for instance after the store fixed what made it
// refuse them. Each requeued report is forwarded again with its own
// report id, so the store de-duplicates as usual.
func cmdOutbox(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "requeue" {
		fmt.Fprintln(stderr, "usage: mulegate outbox requeue --config FILE (--report ID | --all-rejected)")
		return errUsage
	}
	fs := flag.NewFlagSet("outbox requeue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", getenv("MULEGATE_CONFIG"), "YAML configuration file (or MULEGATE_CONFIG); only redis and storage are used")
	id := fs.String("report", "", "report id to requeue")
	all := fs.Bool("all-rejected", false, "requeue every rejected report")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if (*id == "") == !*all {
		fmt.Fprintln(stderr, "outbox requeue: give exactly one of --report ID or --all-rejected")
		return errUsage
	}
	c, err := loadCore(ctx, *path, getenv, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if *all {
		ids, err := c.st.RequeueAllRejected(ctx)
		for _, r := range ids {
			fmt.Fprintln(stdout, "requeued", r)
		}
		fmt.Fprintf(stdout, "%d rejected reports requeued\n", len(ids))
		return err
	}
	ok, err := c.st.Requeue(ctx, *id)
	var de *domain.Error
	if errors.As(err, &de) && de.Code == domain.CodeNotFound {
		return fmt.Errorf("no report %s", *id)
	}
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("report %s is not rejected; nothing to requeue", *id)
	}
	fmt.Fprintln(stdout, "requeued", *id)
	return nil
}

// cmdMigrate is "mulegate migrate --config FILE": it brings a Redis
// written by an older mulegate to the current data layout
// (internal/store/migrate says what each layout changed) and marks it.
// Stop every gateway first. Safe to run again.
func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", getenv("MULEGATE_CONFIG"), "YAML configuration file (or MULEGATE_CONFIG); only redis and storage are used")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	c, err := newCore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	st, err := migrate.Run(ctx, c.st, migrate.Options{Secret: []byte(cfg.Storage.PseudonymSecret), Partitions: cfg.Storage.Partitions})
	fmt.Fprintf(stdout, "migrated %d IBANs: %d reports, %d markers; %d reports past retention dropped\n", st.IBANs, st.Reports, st.Markers, st.Expired)
	fmt.Fprintf(stdout, "rewrote %d books, %d idempotency entries, %d event ids\n", st.Books, st.Claims, st.EventIDs)
	fmt.Fprintf(stdout, "sealed %d feed events, %d alerts, %d rejected reports, %d outbox entries\n",
		st.Events, st.Alerts, st.Rejected, st.Outbox)
	fmt.Fprintf(stdout, "compacted %d feed events, %d event ids and work list entries; data layout %d\n",
		st.Compacted, st.Members, store.LayoutVersion)
	return err
}

// loadCore builds the store of the configuration at path, for the
// operator commands that use only redis and storage.
func loadCore(ctx context.Context, path string, getenv func(string) string, stderr io.Writer) (*core, error) {
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return nil, err
	}
	return newCore(ctx, cfg, stderr)
}
