package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mulegate/mulegate/client"
)

// The commands of "correcting the record": the holding bank's status of
// an account, the police's clear, the access record.

// cmdStatus is "mulegate status set IBAN STATUS [--details D]" and
// "mulegate status clear IBAN" (the holding bank).
func cmdStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: mulegate status set IBAN collection_account|account_closed|taken_over [--details D]\n       mulegate status clear IBAN"
	if len(args) < 2 || (args[0] != "set" && args[0] != "clear") || strings.HasPrefix(args[1], "-") {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	op, iban, rest := args[0], args[1], args[2:]
	status := ""
	if op == "set" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintln(stderr, usage)
			return errUsage
		}
		status, rest = rest[0], rest[1:]
	}
	fs, cf := clientFlagSet("status", getenv, stderr)
	details := fs.String("details", "", "what the bank knows (at most 500 characters)")
	if err := fs.Parse(rest); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if op == "clear" {
		if err := c.DeleteHolderStatus(ctx, iban); err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"iban": iban, "status": nil})
	}
	h, err := c.SetHolderStatus(ctx, iban, client.AccountStatus(status), *details)
	if err != nil {
		return err
	}
	return printJSON(stdout, h)
}

// cmdClear is "mulegate clear IBAN --reason R [--details D]" and
// "mulegate clear IBAN --withdraw" (the police).
func cmdClear(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: mulegate clear IBAN --reason court_ruling|prosecutor_decision|investigation_closed|error [--details D]\n       mulegate clear IBAN --withdraw"
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	fs, cf := clientFlagSet("clear", getenv, stderr)
	reason := fs.String("reason", "", "why the police clear the IBAN")
	details := fs.String("details", "", "the police's own notes (at most 2000 characters)")
	withdraw := fs.Bool("withdraw", false, "withdraw a clear made in error")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 || (*reason == "") == !*withdraw {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if *withdraw {
		if err := c.WithdrawClear(ctx, args[0]); err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"iban": args[0], "withdrawn": true})
	}
	cl, err := c.ClearIBAN(ctx, args[0], client.ClearReason(*reason), *details)
	if err != nil {
		return err
	}
	return printJSON(stdout, cl)
}

// cmdRecord is "mulegate record IBAN": the access record.
func cmdRecord(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: mulegate record IBAN")
		return errUsage
	}
	fs, cf := clientFlagSet("record", getenv, stderr)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: mulegate record IBAN")
		return errUsage
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	r, err := c.AccessRecord(ctx, args[0])
	if err != nil {
		return err
	}
	return printJSON(stdout, r)
}
