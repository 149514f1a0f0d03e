package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/wait"
)

// Budgets of the peer-restart tests (issue 16 items 2 and 11).
const (
	// crashEndBudget is how long the survivor of a peer's kill -9 may
	// take to end the call.
	crashEndBudget = 5 * time.Second
	// redialBudget is how long a call placed right after the callee's
	// daemon restarted may take to connect.
	redialBudget = 8 * time.Second
)

// connectedCall places a call from a to b (b auto-answers) with
// `parley call --wait` and requires it to connect within budget on this
// first try; it returns the call and how long the command took.
func connectedCall(t *testing.T, a, b *daemon.Parleyd, budget time.Duration) (apitype.Call, time.Duration) {
	t.Helper()
	start := time.Now()
	var c apitype.Call
	err := a.CLIJSON(t.Context(), &c, "call", b.AccountID, "--wait", budget.String())
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s calling %s (after %v): %v", a.Name, b.Name, took.Round(time.Millisecond), err)
	}
	if c.State != "connected" {
		t.Fatalf("%s calling %s: call = %+v after %v", a.Name, b.Name, c, took.Round(time.Millisecond))
	}
	return c, took
}

// survivorEnds kills victim's daemon with SIGKILL during call id and
// measures how long survivor takes to end the call; the reason must say
// the other side is gone.
func survivorEnds(t *testing.T, survivor, victim *daemon.Parleyd, id string) time.Duration {
	t.Helper()
	victim.Kill()
	<-victim.Proc.Done()
	killed := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := survivor.WaitCall(ctx, id, wait.CallIs("ended"))
	took := time.Since(killed)
	ok(t, err)
	t.Logf("%s ended the call %v after %s's kill -9: %q", survivor.Name, took.Round(time.Millisecond), victim.Name, c.Reason)
	if took > crashEndBudget {
		t.Errorf("%s ended the call %v after %s was killed; want at most %v", survivor.Name, took.Round(time.Millisecond), victim.Name, crashEndBudget)
	}
	if !strings.Contains(c.Reason, "stopped responding") && !strings.Contains(c.Reason, "went away") {
		t.Errorf("%s's end reason %q does not say the other side is gone", survivor.Name, c.Reason)
	}
	return took
}

// TestCallAfterPeerRestart: a contact whose daemon was killed and restarted
// can be called at once; the first call connects within seconds (issue 16
// item 2: the caller used to reuse its dead connection for ~30 s).
func TestCallAfterPeerRestart(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	ok(t, daemon.Befriend(ctx, alice, bob))
	cli(t, bob, "set", "calls.auto_answer", "contacts")

	c, _ := connectedCall(t, alice, bob, 20*time.Second)
	cli(t, alice, "hangup", c.ID)
	_, err := bob.WaitCall(ctx, c.ID, wait.CallIs("ended"))
	ok(t, err)

	bob.Kill()
	<-bob.Proc.Done()
	ok(t, bob.Start(ctx, net.boot))
	c, took := connectedCall(t, alice, bob, redialBudget)
	t.Logf("call after bob's restart connected in %v (path %+v)", took.Round(time.Millisecond), c.Path)
	cli(t, alice, "hangup", c.ID)
}

// TestCallPeerKilledMidCall: when either side's daemon is killed during a
// call, the survivor ends the call within crashEndBudget saying why, and a
// call placed right after the victim restarted connects on the first try
// (issue 16 item 11).
func TestCallPeerKilledMidCall(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	ok(t, daemon.Befriend(ctx, alice, bob))
	cli(t, bob, "set", "calls.auto_answer", "contacts")
	cli(t, alice, "set", "calls.auto_answer", "contacts")

	hearsTone := func(c apitype.Call) bool { return c.ToneHz == 440 }

	// The callee dies: the caller ends the call.
	c, _ := connectedCall(t, alice, bob, 20*time.Second)
	_, err := alice.WaitCall(ctx, c.ID, hearsTone)
	ok(t, err)
	calleeGone := survivorEnds(t, alice, bob, c.ID)

	ok(t, bob.Start(ctx, net.boot))
	c, took := connectedCall(t, alice, bob, redialBudget)
	t.Logf("redial after bob's restart connected in %v", took.Round(time.Millisecond))
	_, err = bob.WaitCall(ctx, c.ID, hearsTone)
	ok(t, err)

	// The caller dies: the callee ends the call.
	callerGone := survivorEnds(t, bob, alice, c.ID)
	ok(t, alice.Start(ctx, net.boot))
	c, took = connectedCall(t, bob, alice, redialBudget)
	t.Logf("bob calling the restarted alice connected in %v", took.Round(time.Millisecond))
	cli(t, bob, "hangup", c.ID)
	t.Logf("end of call after a kill -9: callee killed %v, caller killed %v", calleeGone.Round(time.Millisecond), callerGone.Round(time.Millisecond))
}
