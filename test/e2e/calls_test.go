package e2e

import (
	"testing"

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
