package main

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/gologshim"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
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
	r, err := node.NewLinkRequest(g.Data, node.LinkOptions{
		AccountOptions: opts,
		Bootstraps:     c.Bootstrap,
		ListenAddrs:    c.Listen,
		TTL:            c.LinkTTL,
		Logger:         log,
		OnEvent: func(ev node.LinkEvent) {
			switch ev.Type {
			case node.LinkEventSAS:
				say("\nDevice %s of account %s is approving this device.\nSAS: %s\nCheck that the approving device shows the same SAS, and confirm it there.\n", ev.Approver, ev.Account, ev.SAS)
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
	printIdentity(g.stdout, id, "Linked: this device now belongs to the account.")
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
