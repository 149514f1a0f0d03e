package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/wait"
)

// TestContactsEndToEnd runs parley-bootstrap and parleyd processes and drives
// them with the parley CLI: a contact request is accepted and survives
// restarts of both daemons; a request sent while its target is down arrives
// once it starts.
func TestContactsEndToEnd(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")

	// Before the daemon runs, the CLI says so and how to start it.
	r, err := alice.CLI(ctx, "status")
	if err == nil || !strings.Contains(r.Stderr, "parleyd run --data") {
		t.Fatalf("status without a daemon: code %d, %q", r.Code, r.Stderr)
	}

	net.start(alice, bob)

	// A second daemon on the same data dir fails at once, saying why and
	// what to do.
	start := time.Now()
	r = test.Exec(t, nil, net.bins.Parleyd, "run", "--data", alice.Dir, "--listen", "/ip4/127.0.0.1/tcp/0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "another process holds the lock") || !strings.Contains(r.Stderr, "--data") {
		t.Fatalf("second parleyd on one data dir: code %d, %q", r.Code, r.Stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second parleyd took %v to fail", d)
	}

	var l apitype.Lookup
	cliJSON(t, alice, &l, "lookup", bob.AccountID)
	if len(l.Devices) != 1 || !l.Devices[0].Connected {
		t.Fatalf("alice's lookup of bob: %+v", l)
	}

	cli(t, alice, "contact", "add", bob.AccountID, "--name", "Bob", "--message", "hi, it is Alice")
	ok(t, bob.WaitContact(ctx, alice.AccountID, wait.ContactIs("request-received")))
	cli(t, bob, "contact", "accept", alice.AccountID)
	ok(t, alice.WaitContact(ctx, bob.AccountID, wait.ContactIs("accepted")))
	ok(t, bob.WaitContact(ctx, alice.AccountID, wait.ContactIs("accepted")))

	// Restart both: the contact is still there.
	ok(t, alice.Restart(ctx))
	ok(t, bob.Restart(ctx))
	ok(t, alice.WaitContact(ctx, bob.AccountID, wait.ContactIs("accepted")))
	ok(t, bob.WaitContact(ctx, alice.AccountID, wait.ContactIs("accepted")))

	// A request to a daemon that is down arrives after it starts.
	carol := net.daemon("carol")
	net.start(carol)
	ok(t, bob.Stop())
	cli(t, carol, "contact", "add", bob.AccountID, "--message", "hello from carol")
	var cs []apitype.Contact
	if err := carol.CLIJSON(ctx, &cs, "contacts"); err != nil || len(cs) != 1 || !cs[0].Pending {
		t.Fatalf("carol's contacts while bob is down: %+v, %v", cs, err)
	}
	net.start(bob)
	ok(t, bob.WaitContact(ctx, carol.AccountID, wait.ContactIs("request-received")))
	ok(t, carol.WaitContact(ctx, bob.AccountID, wait.ContactIs("request-sent")))

	// Bad input gives a clear error and a non-zero exit.
	r, err = alice.CLI(ctx, "contact", "add", "parley1qqqq")
	if err == nil || !strings.Contains(r.Stderr, "is not an account ID") {
		t.Fatalf("adding a malformed ID: code %d, %q", r.Code, r.Stderr)
	}
}
