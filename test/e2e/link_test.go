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
)

var (
	linkCodeLine = regexp.MustCompile(`Link code: (\S+)`)
	linkSASLine  = regexp.MustCompile(`SAS: (\d{3} \d{3})`)
)

// linkProc is `parleyd init --link` waiting on a new device.
type linkProc struct {
	t    *testing.T
	proc *test.Proc
	dir  string
	code string
}

// startLink runs `parleyd init --link` in a new data dir and waits for its
// code.
func startLink(t *testing.T, bins test.Binaries, name string, boot []string, extra ...string) *linkProc {
	t.Helper()
	l := &linkProc{t: t, dir: filepath.Join(t.TempDir(), name)}
	args := []string{"init", "--link", "--data", l.dir, "--name", name, "--listen", "/ip4/127.0.0.1/tcp/0"}
	for _, b := range boot {
		args = append(args, "--bootstrap", b)
	}
	l.proc = test.Start(t, "parleyd init --link "+name, nil, bins.Parleyd, append(args, extra...)...)
	test.WaitFor(t, 20*time.Second, func() error {
		m := linkCodeLine.FindStringSubmatch(l.proc.Output())
		if m == nil {
			if l.proc.Exited() {
				t.Fatalf("parleyd init --link exited:\n%s", l.proc.Output())
			}
			return fmt.Errorf("no link code yet:\n%s", l.proc.Output())
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
	test.WaitFor(l.t, 30*time.Second, func() error {
		if !l.proc.Exited() {
			return fmt.Errorf("parleyd init --link still running:\n%s", l.proc.Output())
		}
		return nil
	})
	return l.proc.Stop(l.t)
}

// refused runs a parley command that must fail with a message containing
// want.
func refused(t *testing.T, d *daemon, want string, args ...string) {
	t.Helper()
	r := d.cli(args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("parley %v: exit %d, stderr %q; want a refusal mentioning %q", args, r.Code, r.Stderr, want)
	}
}

// lookupCount polls alice's lookup of account until it finds want devices.
func waitDeviceCount(t *testing.T, d *daemon, account string, want int) apitype.Lookup {
	t.Helper()
	var l apitype.Lookup
	test.WaitFor(t, 45*time.Second, func() error {
		if err := d.cliJSON(&l, "lookup", account); err != nil {
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
	bins := test.BuildBinaries(t)
	_, boot := startBootstrap(t, bins)
	alice := newDaemon(t, bins, "alice", boot)
	bob1 := newDaemon(t, bins, "bob-laptop", boot)
	carol := newDaemon(t, bins, "carol", boot) // never started: a contact to add
	alice.start()
	bob1.start()
	befriend(t, alice, bob1)

	l := startLink(t, bins, "bob-phone", boot)
	if !strings.Contains(l.proc.Output(), "▀") && !strings.Contains(l.proc.Output(), "▄") {
		t.Fatalf("no QR code drawn:\n%s", l.proc.Output())
	}

	// A wrong SAS: refused, reported on the new device, nothing sent.
	var s apitype.LinkSession
	if err := bob1.cliJSON(&s, "link", "approve", l.code, "--no-prompt"); err != nil {
		t.Fatal(err)
	}
	if shown := l.sas(1); shown != s.SAS {
		t.Fatalf("the new device shows SAS %q, the laptop %q", shown, s.SAS)
	}
	wrong := "000 000"
	if s.SAS == wrong {
		wrong = "111 111"
	}
	refused(t, bob1, "SAS not confirmed", "link", "approve", l.code, "--sas", wrong)
	test.WaitFor(t, 10*time.Second, func() error {
		if !strings.Contains(l.proc.Output(), "Attempt failed: SAS not confirmed") {
			return fmt.Errorf("the new device does not report the failure:\n%s", l.proc.Output())
		}
		return nil
	})

	// Another device racing for the same code while bob's session is open.
	if err := bob1.cliJSON(&s, "link", "approve", l.code, "--no-prompt"); err != nil {
		t.Fatal(err)
	}
	refused(t, alice, "in use", "link", "approve", l.code, "--no-prompt")
	shown := l.sas(2)
	if shown != s.SAS {
		t.Fatalf("second session: the new device shows %q, the laptop %q", shown, s.SAS)
	}
	if r := bob1.cli("link", "approve", l.code, "--sas", shown); r.Code != 0 || !strings.Contains(r.Stdout, "Linked") {
		t.Fatalf("confirming the right SAS: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if code := l.waitExit(); code != 0 || !strings.Contains(l.proc.Output(), "Linked: this device now belongs to the account") {
		t.Fatalf("parleyd init --link exited with %d:\n%s", code, l.proc.Output())
	}
	refused(t, bob1, "already used", "link", "approve", l.code)

	// An expired code.
	exp := startLink(t, bins, "too-late", boot, "--link-ttl", "1s", "--no-qr")
	if code := exp.waitExit(); code == 0 || !strings.Contains(exp.proc.Output(), "expired") {
		t.Fatalf("an expired link request exited with %d:\n%s", code, exp.proc.Output())
	}
	refused(t, bob1, "expired", "link", "approve", exp.code)

	// The phone runs: it has bob's contacts, and a call rings both devices.
	bob2 := &daemon{t: t, bins: bins, dir: l.dir, boot: boot, id: bob1.id}
	bob2.start()
	bob2.waitContact(alice.id, "accepted")
	if r := bob2.cli("set", "calls.auto_answer", "contacts"); r.Code != 0 {
		t.Fatalf("set: %s", r.Stderr)
	}
	var devs []apitype.Device
	if err := bob1.cliJSON(&devs, "devices"); err != nil || len(devs) != 2 {
		t.Fatalf("bob's devices: %+v, %v", devs, err)
	}
	phoneID := devs[1].DeviceID
	if devs[1].Name != "bob-phone" || devs[1].Revoked || !devs[0].Self {
		t.Fatalf("bob's devices: %+v", devs)
	}
	waitDeviceCount(t, alice, bob1.id, 2)
	var c apitype.Call
	if err := alice.cliJSON(&c, "call", bob1.id, "--audio", "tone:700", "--wait", "20s"); err != nil {
		t.Fatal(err)
	}
	if c.PeerDevice != phoneID {
		t.Fatalf("answered by %s, want the phone %s", c.PeerDevice, phoneID)
	}
	test.WaitFor(t, 10*time.Second, func() error {
		lc, err := bob1.callOn(c.ID)
		if err != nil {
			return err
		}
		if lc.State != "ended" || !strings.Contains(lc.Reason, "answered elsewhere") {
			return fmt.Errorf("the laptop's view of the call: %s (%s)", lc.State, lc.Reason)
		}
		return nil
	})
	if r := alice.cli("hangup", c.ID); r.Code != 0 {
		t.Fatalf("hangup: %s", r.Stderr)
	}

	// Sync: a contact added on the laptop while the phone is stopped.
	bob2.stop()
	if r := bob1.cli("contact", "add", carol.id, "--name", "Carol"); r.Code != 0 {
		t.Fatalf("contact add: %s", r.Stderr)
	}
	bob2.start()
	bob2.waitContact(carol.id, "request-sent")

	// Revoke the phone from the laptop.
	var rev apitype.Revocation
	if err := bob1.cliJSON(&rev, "devices", "revoke", phoneID); err != nil {
		t.Fatal(err)
	}
	if !rev.Device.Revoked || rev.CRLNumber == 0 {
		t.Fatalf("revocation: %+v", rev)
	}
	if err := bob1.cliJSON(&devs, "devices"); err != nil || !devs[1].Revoked {
		t.Fatalf("bob's devices after the revocation: %+v, %v", devs, err)
	}
	if l := waitDeviceCount(t, alice, bob1.id, 1); l.Devices[0].DeviceID == phoneID {
		t.Fatal("alice's lookup finds only the revoked phone")
	}

	// Only the laptop rings now.
	if r := bob1.cli("set", "calls.auto_answer", "contacts"); r.Code != 0 {
		t.Fatalf("set: %s", r.Stderr)
	}
	if err := alice.cliJSON(&c, "call", bob1.id, "--wait", "20s"); err != nil {
		t.Fatal(err)
	}
	if c.PeerDevice == phoneID {
		t.Fatal("the revoked phone answered")
	}
	if _, err := bob2.callOn(c.ID); err == nil {
		t.Fatal("the revoked phone rang")
	}
	if r := alice.cli("hangup", c.ID); r.Code != 0 {
		t.Fatalf("hangup: %s", r.Stderr)
	}

	// The phone's call to alice is refused, with the reason.
	r := bob2.cli("call", alice.id, "--wait", "20s")
	if r.Code == 0 || !strings.Contains(r.Stderr, "revoked") {
		t.Fatalf("a call from the revoked phone: exit %d, %q", r.Code, r.Stderr)
	}
	var ac []apitype.Call
	if err := alice.cliJSON(&ac, "calls"); err != nil {
		t.Fatal(err)
	}
	for _, x := range ac {
		if x.Direction == "incoming" {
			t.Fatalf("alice took a call from the revoked phone: %+v", x)
		}
	}
	// And it cannot approve devices any more.
	l3 := startLink(t, bins, "bob-tablet", boot, "--no-qr")
	refused(t, bob2, "revoked", "link", "approve", l3.code)
	if out, _ := json.Marshal(devs); !strings.Contains(string(out), phoneID) {
		t.Fatalf("devices list lost the phone: %s", out)
	}
}
