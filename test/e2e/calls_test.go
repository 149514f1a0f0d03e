package e2e

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/proc"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/wait"
)

// TestCallEndToEnd: `parley call` between two parleyd processes; bob's
// daemon auto-answers; each side hears the other's tone and both show the
// same SAS; `parley hangup` ends it on both sides.
func TestCallEndToEnd(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	ok(t, daemon.Befriend(ctx, alice, bob))
	cli(t, bob, "set", "calls.auto_answer", "contacts")

	var c apitype.Call
	cliJSON(t, alice, &c, "call", bob.AccountID, "--audio", "tone:700", "--wait", "20s")
	if c.State != "connected" || c.SAS == "" {
		t.Fatalf("call = %+v", c)
	}
	t.Logf("alice: call %s connected, SAS %s, path %+v, first media after %.1f ms", c.ID, c.SAS, c.Path, c.SetupMS)
	hears := func(hz float64) func(apitype.Call) bool {
		return func(c apitype.Call) bool { return c.ToneHz == hz }
	}
	ac, err := alice.WaitCall(ctx, c.ID, hears(440))
	ok(t, err)
	bc, err := bob.WaitCall(ctx, c.ID, hears(700))
	ok(t, err)
	if ac.SAS != bc.SAS {
		t.Fatalf("SAS differs: alice %q, bob %q", ac.SAS, bc.SAS)
	}
	cli(t, alice, "hangup", c.ID)
	_, err = bob.WaitCall(ctx, c.ID, wait.CallIs("ended"))
	ok(t, err)
}

// TestCallInterruptedHangsUp: Ctrl-C during `parley call --wait` ends the
// call, so the callee stops ringing at once instead of for up to a minute
// (issue 16 item 6).
func TestCallInterruptedHangsUp(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	ok(t, daemon.Befriend(ctx, alice, bob))

	p, err := alice.Procs.Start(proc.Spec{Name: "parley-call", Path: alice.Bins.Parley, Args: []string{"--data", alice.Dir, "call", bob.AccountID, "--wait", "60s"}})
	ok(t, err)
	var id string
	test.WaitFor(t, 20*time.Second, func() error {
		cs, err := bob.Client().Calls(ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.State == "ringing" {
				id = c.ID
				return nil
			}
		}
		return errors.New("bob is not ringing yet")
	})
	ok(t, p.Signal(syscall.SIGINT))
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("parley call did not exit after SIGINT")
	}
	if !strings.Contains(p.Output(), "hung up") || p.ExitCode() != 130 {
		t.Fatalf("parley call after SIGINT: exit %d, output %q; want it to say the call was hung up", p.ExitCode(), p.Output())
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = bob.WaitCall(wctx, id, wait.CallIs("ended"))
	ok(t, err)
}
