package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

var (
	linkCodeLine = regexp.MustCompile(`Link code: (\S+)`)
	linkSASLine  = regexp.MustCompile(`SAS: (\d{3} \d{3})`)
)

// linkProc is `parleyd init --link` waiting on a new device.
type linkProc struct {
	t    *testing.T
	proc *proc.Proc
	dir  string
	code string
}

// startLink runs `parleyd init --link` in a new data dir and waits for its
// code.
func startLink(t *testing.T, net *network, name string, extra ...string) *linkProc {
	t.Helper()
	l := &linkProc{t: t, dir: filepath.Join(t.TempDir(), name)}
	args := []string{"init", "--link", "--yes", "--data", l.dir, "--name", name, "--listen", "/ip4/127.0.0.1/tcp/0"}
	for _, b := range net.boot {
		args = append(args, "--bootstrap", b)
	}
	var err error
	l.proc, err = net.procs.Start(proc.Spec{Name: "parleyd init --link " + name, Path: net.bins.Parleyd, Args: append(args, extra...)})
	ok(t, err)
	ok(t, l.proc.WaitOutput(t.Context(), "Link code: ", 20*time.Second))
	test.WaitFor(t, 20*time.Second, func() error {
		m := linkCodeLine.FindStringSubmatch(l.proc.Output())
		if m == nil {
			return fmt.Errorf("no whole link code yet:\n%s", l.proc.Output())
		}
		l.code = m[1]
		return nil
	})
	return l
}

// sas waits for the n-th SAS the new device shows (1-based).
func (l *linkProc) sas(n int) string {
	l.t.Helper()
	var got string
	test.WaitFor(l.t, 20*time.Second, func() error {
		m := linkSASLine.FindAllStringSubmatch(l.proc.Output(), -1)
		if len(m) < n {
			return fmt.Errorf("the new device shows %d SAS, want %d:\n%s", len(m), n, l.proc.Output())
		}
		got = m[n-1][1]
		return nil
	})
	return got
}

// waitExit waits for the link process to end and returns its exit code.
func (l *linkProc) waitExit() int {
	l.t.Helper()
	select {
	case <-l.proc.Done():
	case <-time.After(30 * time.Second):
		l.t.Fatalf("parleyd init --link still running:\n%s", l.proc.Output())
	}
	return l.proc.ExitCode()
}

// refused runs a parley command that must fail with a message containing
// want.
func refused(t *testing.T, d *daemon.Parleyd, want string, args ...string) {
	t.Helper()
	r, err := d.CLI(t.Context(), args...)
	if err == nil || !strings.Contains(r.Stderr, want) {
		t.Fatalf("parley %v: exit %d, stderr %q; want a refusal mentioning %q", args, r.Code, r.Stderr, want)
	}
}

// waitDeviceCount polls d's lookup of account until it finds want devices.
func waitDeviceCount(t *testing.T, d *daemon.Parleyd, account string, want int) *apitype.Lookup {
	t.Helper()
	var l *apitype.Lookup
	test.WaitFor(t, 45*time.Second, func() error {
		var err error
		if l, err = d.Client().Lookup(t.Context(), account); err != nil {
			return err
		}
		if len(l.Devices) != want {
			return fmt.Errorf("lookup finds %d devices, want %d: %+v", len(l.Devices), want, l.Devices)
		}
		return nil
	})
	return l
}

// TestLinkEndToEnd runs the whole story with the real binaries: a second
// device of bob is linked with `parleyd init --link` and `parley link
// approve` (a wrong SAS, a racing approver, a reused and an expired code
// are refused on the way); alice's call rings both and the phone answers; a
// contact added on the laptop while the phone is stopped reaches it when it
// starts; bob revokes the phone; alice's next call rings only the laptop,
// and the phone's call to alice is refused with the reason.
func TestLinkEndToEnd(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob1 := net.daemon("alice"), net.daemon("bob-laptop")
	carol := net.daemon("carol") // never started: a contact to add
	net.start(alice, bob1)
	ok(t, daemon.Befriend(ctx, alice, bob1))

	l := startLink(t, net, "bob-phone")
	if !strings.Contains(l.proc.Output(), "▀") && !strings.Contains(l.proc.Output(), "▄") {
		t.Fatalf("no QR code drawn:\n%s", l.proc.Output())
	}

	// A wrong SAS: refused, reported on the new device, nothing sent.
	var s apitype.LinkSession
	cliJSON(t, bob1, &s, "link", "approve", l.code, "--no-prompt")
	if shown := l.sas(1); shown != s.SAS {
		t.Fatalf("the new device shows SAS %q, the laptop %q", shown, s.SAS)
	}
	wrong := "000 000"
	if s.SAS == wrong {
		wrong = "111 111"
	}
	// A typo can be retried in the same session; the third wrong entry
	// closes it.
	refused(t, bob1, "2 tries left", "link", "approve", l.code, "--sas", wrong)
	refused(t, bob1, "1 tries left", "link", "approve", l.code, "--sas", wrong)
	refused(t, bob1, "closed after 3 wrong entries", "link", "approve", l.code, "--sas", wrong)
	ok(t, l.proc.WaitOutput(ctx, "Attempt failed: SAS not confirmed", 10*time.Second))

	// Another device racing for the same code while bob's session is open.
	cliJSON(t, bob1, &s, "link", "approve", l.code, "--no-prompt")
	refused(t, alice, "in use", "link", "approve", l.code, "--no-prompt")
	shown := l.sas(2)
	if shown != s.SAS {
		t.Fatalf("second session: the new device shows %q, the laptop %q", shown, s.SAS)
	}
	if r := cli(t, bob1, "link", "approve", l.code, "--sas", shown); !strings.Contains(r.Stdout, "Linked") {
		t.Fatalf("confirming the right SAS: %s %s", r.Stdout, r.Stderr)
	}
	if code := l.waitExit(); code != 0 || !strings.Contains(l.proc.Output(), "Linked: this device now belongs to the account") {
		t.Fatalf("parleyd init --link exited with %d:\n%s", code, l.proc.Output())
	}
	refused(t, bob1, "already used", "link", "approve", l.code, "--no-prompt")

	// An expired code.
	exp := startLink(t, net, "too-late", "--link-ttl", "1s", "--no-qr")
	if code := exp.waitExit(); code == 0 || !strings.Contains(exp.proc.Output(), "expired") {
		t.Fatalf("an expired link request exited with %d:\n%s", code, exp.proc.Output())
	}
	refused(t, bob1, "expired", "link", "approve", exp.code, "--no-prompt")

	// The phone runs: it has bob's contacts, and a call rings both devices.
	bob2, err := daemon.Open(ctx, net.config("bob-phone", l.dir))
	ok(t, err)
	if bob2.AccountID != bob1.AccountID {
		t.Fatalf("the phone is on account %s, the laptop on %s", bob2.AccountID, bob1.AccountID)
	}
	net.start(bob2)
	ok(t, bob2.WaitContact(ctx, alice.AccountID, wait.ContactIs("accepted")))
	cli(t, bob2, "set", "calls.auto_answer", "contacts")
	var devs []apitype.Device
	if err := bob1.CLIJSON(ctx, &devs, "devices"); err != nil || len(devs) != 2 {
		t.Fatalf("bob's devices: %+v, %v", devs, err)
	}
	phoneID := devs[1].DeviceID
	if devs[1].Name != "bob-phone" || devs[1].Revoked || !devs[0].Self || phoneID != bob2.DeviceID {
		t.Fatalf("bob's devices: %+v", devs)
	}
	waitDeviceCount(t, alice, bob1.AccountID, 2)
	var c apitype.Call
	cliJSON(t, alice, &c, "call", bob1.AccountID, "--audio", "tone:700", "--wait", "20s")
	if c.PeerDevice != phoneID {
		t.Fatalf("answered by %s, want the phone %s", c.PeerDevice, phoneID)
	}
	lc, err := bob1.WaitCall(ctx, c.ID, wait.CallIs("ended"))
	ok(t, err)
	if !strings.Contains(lc.Reason, "answered elsewhere") {
		t.Fatalf("the laptop's view of the call: %s (%s)", lc.State, lc.Reason)
	}
	cli(t, alice, "hangup", c.ID)

	// Sync: a contact added on the laptop while the phone is stopped.
	ok(t, bob2.Stop())
	cli(t, bob1, "contact", "add", carol.AccountID, "--name", "Carol")
	net.start(bob2)
	ok(t, bob2.WaitContact(ctx, carol.AccountID, wait.ContactIs("request-sent")))

	// Revoke the phone from the laptop, by its name. A prefix both IDs
	// share is refused, naming both; a pipe is not asked, so a script
	// passes --yes.
	refused(t, bob1, "starts 2 device IDs", "devices", "revoke", "12D3KooW", "--yes")
	refused(t, bob1, "--yes", "devices", "revoke", "bob-phone")
	var rev apitype.Revocation
	cliJSON(t, bob1, &rev, "devices", "revoke", "BOB-PHONE", "--yes")
	if !rev.Device.Revoked || rev.CRLNumber == 0 || rev.Device.DeviceID != phoneID {
		t.Fatalf("revocation: %+v", rev)
	}
	if err := bob1.CLIJSON(ctx, &devs, "devices"); err != nil || !devs[1].Revoked {
		t.Fatalf("bob's devices after the revocation: %+v, %v", devs, err)
	}
	// Status counts the devices in use, not the revoked phone.
	var st apitype.Status
	cliJSON(t, bob1, &st, "status")
	if st.Identity.Devices != 1 {
		t.Fatalf("bob's status counts %d devices after the revocation, want 1", st.Identity.Devices)
	}
	if l := waitDeviceCount(t, alice, bob1.AccountID, 1); l.Devices[0].DeviceID == phoneID {
		t.Fatal("alice's lookup finds only the revoked phone")
	}

	// Only the laptop rings now.
	cli(t, bob1, "set", "calls.auto_answer", "contacts")
	cliJSON(t, alice, &c, "call", bob1.AccountID, "--wait", "20s")
	if c.PeerDevice == phoneID {
		t.Fatal("the revoked phone answered")
	}
	if _, err := bob2.Call(ctx, c.ID); err == nil {
		t.Fatal("the revoked phone rang")
	}
	cli(t, alice, "hangup", c.ID)

	// The phone's call to alice is refused, with the reason.
	r, err := bob2.CLI(ctx, "call", alice.AccountID, "--wait", "20s")
	if err == nil || !strings.Contains(r.Stderr, "revoked") {
		t.Fatalf("a call from the revoked phone: exit %d, %q", r.Code, r.Stderr)
	}
	if p := messageProblems(r.Stderr); len(p) > 0 {
		t.Errorf("a call from the revoked phone: %q: %s", r.Stderr, strings.Join(p, ", "))
	}
	var ac []apitype.Call
	cliJSON(t, alice, &ac, "calls")
	for _, x := range ac {
		if x.Direction == "incoming" {
			t.Fatalf("alice took a call from the revoked phone: %+v", x)
		}
	}
	// And it cannot approve devices any more.
	l3 := startLink(t, net, "bob-tablet", "--no-qr")
	refused(t, bob2, "revoked", "link", "approve", l3.code, "--no-prompt")
	if out, _ := json.Marshal(devs); !strings.Contains(string(out), phoneID) {
		t.Fatalf("devices list lost the phone: %s", out)
	}
}
