package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
)

// befriend makes two daemons contacts through the CLI.
func befriend(t *testing.T, a, b *daemon) {
	t.Helper()
	if r := a.cli("contact", "add", b.id); r.Code != 0 {
		t.Fatalf("contact add: %s", r.Stderr)
	}
	b.waitContact(a.id, "request-received")
	if r := b.cli("contact", "accept", a.id); r.Code != 0 {
		t.Fatalf("contact accept: %s", r.Stderr)
	}
	a.waitContact(b.id, "accepted")
}

// callOn returns the daemon's view of call id.
func (d *daemon) callOn(id string) (apitype.Call, error) {
	var cs []apitype.Call
	if err := d.cliJSON(&cs, "calls"); err != nil {
		return apitype.Call{}, err
	}
	for _, c := range cs {
		if c.ID == id {
			return c, nil
		}
	}
	return apitype.Call{}, fmt.Errorf("call %s not listed", id)
}

// TestCallEndToEnd: `parley call` between two parleyd processes; bob's
// daemon auto-answers; each side hears the other's tone and both show the
// same SAS; `parley hangup` ends it on both sides.
func TestCallEndToEnd(t *testing.T) {
	bins := test.BuildBinaries(t)
	_, boot := startBootstrap(t, bins)
	alice := newDaemon(t, bins, "alice", boot)
	bob := newDaemon(t, bins, "bob", boot)
	alice.start()
	bob.start()
	befriend(t, alice, bob)
	if r := bob.cli("set", "calls.auto_answer", "contacts"); r.Code != 0 {
		t.Fatalf("set: %s", r.Stderr)
	}

	var c apitype.Call
	if err := alice.cliJSON(&c, "call", bob.id, "--audio", "tone:700", "--wait", "20s"); err != nil {
		t.Fatal(err)
	}
	if c.State != "connected" || c.SAS == "" {
		t.Fatalf("call = %+v", c)
	}
	t.Logf("alice: call %s connected, SAS %s, path %+v, first media after %.1f ms", c.ID, c.SAS, c.Path, c.SetupMS)
	var ac, bc apitype.Call
	test.WaitFor(t, 20*time.Second, func() error {
		var err error
		if ac, err = alice.callOn(c.ID); err != nil {
			return err
		}
		if bc, err = bob.callOn(c.ID); err != nil {
			return err
		}
		if ac.ToneHz != 440 || bc.ToneHz != 700 {
			return fmt.Errorf("alice hears %v Hz (want 440), bob hears %v Hz (want 700)", ac.ToneHz, bc.ToneHz)
		}
		return nil
	})
	if ac.SAS != bc.SAS {
		t.Fatalf("SAS differs: alice %q, bob %q", ac.SAS, bc.SAS)
	}
	if r := alice.cli("hangup", c.ID); r.Code != 0 {
		t.Fatalf("hangup: %s", r.Stderr)
	}
	test.WaitFor(t, 10*time.Second, func() error {
		bc, err := bob.callOn(c.ID)
		if err != nil {
			return err
		}
		if bc.State != "ended" {
			return fmt.Errorf("bob's call is %s", bc.State)
		}
		return nil
	})
}
