package main

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/gologshim"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
)

// runLink is `parleyd init --link`: it makes this device's key, shows a
// one-time link code (text and terminal QR) and waits until a device of the
// account approves it with `parley link approve CODE`.
func (c *initCmd) runLink(g *globals, opts node.AccountOptions) error {
	log := slog.New(cliutil.MinLevel(slog.NewTextHandler(g.stderr, nil), slog.LevelWarn))
	gologshim.SetDefaultHandler(cliutil.MinLevel(log.Handler(), slog.LevelError))
	var mu sync.Mutex // orders the lines of concurrent events
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(g.stdout, format, args...)
	}
	var expect pcrypto.AccountID
	if c.Account != "" {
		var err error
		if expect, err = pcrypto.ParseAccountID(c.Account); err != nil {
			return fmt.Errorf("init --link --account: %w", err)
		}
	}
	// The SAS is confirmed on this device too; refuse up front rather than
	// read an answer nobody typed (and burn an attempt) from a pipe.
	if !c.Yes && !cliutil.IsTerminal(g.stdin) {
		return fmt.Errorf("init --link: standard input is not a terminal, so the SAS cannot be confirmed on this device; run it on a terminal, or pass --yes (and --account ACCOUNT-ID to refuse any other account)")
	}
	r, err := node.NewLinkRequest(g.Data, node.LinkOptions{
		AccountOptions: opts,
		Bootstraps:     c.Bootstrap,
		ListenAddrs:    c.Listen,
		TTL:            c.LinkTTL,
		Logger:         log,
		ExpectAccount:  expect,
		AutoConfirm:    c.Yes,
		Confirm: func(ev node.LinkEvent) error {
			say("Join this account and confirm the SAS? Type y once the approving device shows the same SAS: ")
			line, err := cliutil.ReadLine(g.ctx, g.stdin)
			if err != nil {
				return fmt.Errorf("no answer: %w", err)
			}
			if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
				return fmt.Errorf("the user answered %q", ans)
			}
			return nil
		},
		OnEvent: func(ev node.LinkEvent) {
			switch ev.Type {
			case node.LinkEventSAS:
				name := ev.AccountName
				if name == "" {
					name = "(no name)"
				}
				short := ev.Account
				if id, err := pcrypto.ParseAccountID(ev.Account); err == nil {
					short = id.Short()
				}
				say("\nDevice %s is approving this device into account %s %s\n  (%s).\nSAS: %s\nCheck that this is your account and that the approving device shows the same SAS.\n", ev.Approver, short, name, ev.Account, ev.SAS)
			case node.LinkEventFailed:
				say("\nAttempt failed: %v (%d attempt(s) left)\n", ev.Err, ev.AttemptsLeft)
			}
		},
	})
	if err != nil {
		return err
	}
	defer r.Close()
	code := r.Code()
	say("This device (%s) is waiting to join an existing account.\nOn a device of the account, run:\n\n  parley link approve %s\n\n", r.DeviceID(), code)
	if !c.NoQR {
		if qr, err := terminalQR(code); err == nil {
			say("or scan this code with it:\n\n%s\n", qr)
		}
	}
	say("Link code: %s\nThe code works once, until %s, and allows %d failed attempts. Waiting for approval (Ctrl-C gives up)...\n",
		code, r.Expires().Local().Format("15:04:05"), node.DefaultLinkAttempts)
	id, err := r.Wait(g.ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		return cliutil.PrintJSON(g.stdout, id)
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintln(g.stdout)
	role := "a member device: it does not hold the account key, so it cannot link, promote or revoke devices"
	if id.Role == "admin" {
		role = "an admin device: it holds the account key"
	}
	printIdentity(g.stdout, id, "Linked: this device now belongs to the account as "+role+".")
	boot := "BOOTSTRAP-ADDR"
	if len(c.Bootstrap) > 0 {
		boot = c.Bootstrap[0]
	}
	fmt.Fprintf(g.stdout, "\nNext: parleyd run --data %s --bootstrap %s\n", g.Data, boot)
	return nil
}

// terminalQR renders text as a QR code with half-block characters, two
// modules per character cell, light modules drawn (for dark terminals),
// with the quiet zone the format needs.
func terminalQR(text string) (string, error) {
	q, err := qrcode.New(strings.ToUpper(text), qrcode.Low)
	if err != nil {
		return "", err
	}
	return q.ToSmallString(false), nil
}
