package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mulegate/mulegate/internal/config"
)

// cmdConfig is "mulegate config check --config FILE": the file loaded
// and validated as serve would (with the MULEGATE_* variables and the
// secret files), every problem listed, exit 1 if there is one.
func cmdConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "the configuration file")
	if len(args) == 0 || args[0] != "check" || fs.Parse(args[1:]) != nil || fs.NArg() != 0 || *path == "" {
		fmt.Fprintln(stderr, "usage: mulegate config check --config FILE")
		return errUsage
	}
	if _, err := config.Load(*path, getenv); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stdout, line)
		}
		return errors.New("the configuration has problems (listed above)")
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return nil
}
