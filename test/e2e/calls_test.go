package e2e

import (
	"context"
	"errors"
	"fmt"
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

// TestCallWaitedOutHangsUp: a `parley call --wait` that gives up hangs the
// call up, so the callee does not go on ringing after the command has
// failed (new-user review: "the call did not connect in time", and the
// call rang on until someone ran hangup).
func TestCallWaitedOutHangsUp(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	ok(t, daemon.Befriend(ctx, alice, bob))

	r, err := alice.CLI(ctx, "call", bob.AccountID, "--wait", "3s")
	if err == nil || r.Code != 1 || !strings.Contains(r.Stderr, "did not connect within 3s, so it was hung up") {
		t.Fatalf("parley call --wait 3s to a callee who does not answer: err %v, exit %d, stderr %q; want it to say the call was hung up", err, r.Code, r.Stderr)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	test.WaitFor(t, 10*time.Second, func() error {
		cs, err := bob.Client().Calls(wctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.State != "ended" {
				return fmt.Errorf("bob's call %s is %s", c.ID, c.State)
			}
		}
		if len(cs) == 0 {
			return errors.New("bob never rang")
		}
		return nil
	})
}
