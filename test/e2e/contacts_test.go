package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
)

// startBootstrap runs the real parley-bootstrap on loopback and returns its
// multiaddrs, read from the addrs.txt it writes.
func startBootstrap(t *testing.T, bins test.Binaries) (*test.Proc, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bootstrap")
	p := test.Start(t, "parley-bootstrap", nil, bins.Bootstrap,
		"--data-dir", dir,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1",
		"--turn-listen", "127.0.0.1:0", "--turn-allow-private-peers",
		"--metrics-addr", "")
	var addrs []string
	test.WaitFor(t, 20*time.Second, func() error {
		if p.Exited() {
			t.Fatalf("parley-bootstrap exited:\n%s", p.Output())
		}
		b, err := os.ReadFile(filepath.Join(dir, "addrs.txt"))
		if err != nil {
			return err
		}
		addrs = strings.Fields(string(b))
		if len(addrs) == 0 {
			return fmt.Errorf("addrs.txt is empty")
		}
		return nil
	})
	return p, addrs
}

// daemon is one parleyd process plus the parley CLI pointed at it.
type daemon struct {
	t    *testing.T
	bins test.Binaries
	dir  string
	boot []string
	proc *test.Proc
	id   string
}

func newDaemon(t *testing.T, bins test.Binaries, name string, boot []string) *daemon {
	t.Helper()
	d := &daemon{t: t, bins: bins, dir: filepath.Join(t.TempDir(), name), boot: boot}
	r := test.Exec(t, nil, bins.Parleyd, "init", "--data", d.dir, "--name", name, "--json")
	if r.Code != 0 {
		t.Fatalf("init %s: %s", name, r.Stderr)
	}
	var id apitype.Identity
	if err := json.Unmarshal([]byte(r.Stdout), &id); err != nil {
		t.Fatal(err)
	}
	d.id = id.AccountID
	return d
}

// start runs parleyd and waits until it has published its records.
func (d *daemon) start() {
	d.t.Helper()
	args := []string{"run", "--data", d.dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1",
		"--dht-mode", "client", "--retry-interval", "300ms", "--log-level", "debug", "--ice-loopback"}
	for _, b := range d.boot {
		args = append(args, "--bootstrap", b)
	}
	d.proc = test.Start(d.t, "parleyd "+filepath.Base(d.dir), nil, d.bins.Parleyd, args...)
	test.WaitFor(d.t, 30*time.Second, func() error {
		if d.proc.Exited() {
			d.t.Fatalf("parleyd exited:\n%s", d.proc.Output())
		}
		var s apitype.Status
		if err := d.cliJSON(&s, "status"); err != nil {
			return err
		}
		if s.Published.IsZero() {
			return fmt.Errorf("%s has not published yet", d.dir)
		}
		return nil
	})
}

// stop stops parleyd with SIGTERM and requires a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	if code := d.proc.Stop(d.t); code != 0 {
		d.t.Fatalf("parleyd exited with %d after SIGTERM:\n%s", code, d.proc.Output())
	}
}

// cli runs parley against this daemon.
func (d *daemon) cli(args ...string) test.Result {
	d.t.Helper()
	return test.Exec(d.t, nil, d.bins.Parley, append([]string{"--data", d.dir}, args...)...)
}

// cliJSON runs parley ARGS --json and decodes its output.
func (d *daemon) cliJSON(v any, args ...string) error {
	d.t.Helper()
	r := d.cli(append(args, "--json")...)
	if r.Code != 0 {
		return fmt.Errorf("parley %v: exit %d: %s", args, r.Code, r.Stderr)
	}
	return json.Unmarshal([]byte(r.Stdout), v)
}

// waitContact polls `parley contacts --json` until account is in state want
// with nothing pending.
func (d *daemon) waitContact(account, want string) {
	d.t.Helper()
	test.WaitFor(d.t, 30*time.Second, func() error {
		var cs []apitype.Contact
		if err := d.cliJSON(&cs, "contacts"); err != nil {
			return err
		}
		for _, c := range cs {
			if c.AccountID == account && c.State == want && !c.Pending {
				return nil
			}
		}
		return fmt.Errorf("%s: %s not %s in %+v", filepath.Base(d.dir), account, want, cs)
	})
}

// TestContactsEndToEnd runs parley-bootstrap and parleyd processes and drives
// them with the parley CLI: a contact request is accepted and survives
// restarts of both daemons; a request sent while its target is down arrives
// once it starts.
func TestContactsEndToEnd(t *testing.T) {
	bins := test.BuildBinaries(t)
	_, boot := startBootstrap(t, bins)
	alice := newDaemon(t, bins, "alice", boot)
	bob := newDaemon(t, bins, "bob", boot)

	// Before the daemon runs, the CLI says so and how to start it.
	r := alice.cli("status")
	if r.Code == 0 || !strings.Contains(r.Stderr, "parleyd run --data") {
		t.Fatalf("status without a daemon: code %d, %q", r.Code, r.Stderr)
	}

	alice.start()
	bob.start()

	// A second daemon on the same data dir fails at once, saying why and
	// what to do.
	start := time.Now()
	r = test.Exec(t, nil, bins.Parleyd, "run", "--data", alice.dir, "--listen", "/ip4/127.0.0.1/tcp/0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "another process holds the lock") || !strings.Contains(r.Stderr, "--data") {
		t.Fatalf("second parleyd on one data dir: code %d, %q", r.Code, r.Stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second parleyd took %v to fail", d)
	}

	var l apitype.Lookup
	if err := alice.cliJSON(&l, "lookup", bob.id); err != nil {
		t.Fatal(err)
	}
	if len(l.Devices) != 1 || !l.Devices[0].Connected {
		t.Fatalf("alice's lookup of bob: %+v", l)
	}

	if r := alice.cli("contact", "add", bob.id, "--name", "Bob", "--message", "hi, it is Alice"); r.Code != 0 {
		t.Fatalf("contact add: %s", r.Stderr)
	}
	bob.waitContact(alice.id, "request-received")
	if r := bob.cli("contact", "accept", alice.id); r.Code != 0 {
		t.Fatalf("contact accept: %s", r.Stderr)
	}
	alice.waitContact(bob.id, "accepted")
	bob.waitContact(alice.id, "accepted")

	// Restart both: the contact is still there.
	alice.stop()
	bob.stop()
	alice.start()
	bob.start()
	alice.waitContact(bob.id, "accepted")
	bob.waitContact(alice.id, "accepted")

	// A request to a daemon that is down arrives after it starts.
	carol := newDaemon(t, bins, "carol", boot)
	carol.start()
	bob.stop()
	if r := carol.cli("contact", "add", bob.id, "--message", "hello from carol"); r.Code != 0 {
		t.Fatalf("contact add to an offline account: %s", r.Stderr)
	}
	var cs []apitype.Contact
	if err := carol.cliJSON(&cs, "contacts"); err != nil || len(cs) != 1 || !cs[0].Pending {
		t.Fatalf("carol's contacts while bob is down: %+v, %v", cs, err)
	}
	bob.start()
	bob.waitContact(carol.id, "request-received")
	carol.waitContact(bob.id, "request-sent")

	// Bad input gives a clear error and a non-zero exit.
	r = alice.cli("contact", "add", "parley1qqqq")
	if r.Code == 0 || !strings.Contains(r.Stderr, "invalid") {
		t.Fatalf("adding a malformed ID: code %d, %q", r.Code, r.Stderr)
	}
}
