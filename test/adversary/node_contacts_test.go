package adversary

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/wait"
)

// binDirEnv, when set, is a directory holding the parleyd and parley
// binaries the node tests attack instead of ones built from this tree (an
// older build shows which attacks it fails to stop).
const binDirEnv = "PARLEY_ADVERSARY_BINDIR"

// maxPendingRequests is the default bound on pending contact requests
// (contacts.Options.MaxPendingRequests, docs/threat-model.md).
const maxPendingRequests = 256

// victim is a real parleyd under attack, reached directly on loopback TCP.
type victim struct {
	*daemon.Parleyd
	account crypto.AccountID
	info    peer.AddrInfo
}

// startVictim runs a parleyd and waits until its API answers with its
// addresses. Every attack goes to the device directly; boot, when not nil,
// is a bootstrap it publishes to and looks accounts up in.
func startVictim(t *testing.T, boot *server) *victim {
	t.Helper()
	bins := test.BuildBinaries(t)
	if dir := os.Getenv(binDirEnv); dir != "" {
		bins = daemon.BinariesIn(dir)
	}
	ctx := t.Context()
	// Run as public: no relay slot and no circuit address published, so
	// a stranger's direct message meets the checks under attack rather
	// than the relay-only rule (docs/protocol.md, "Strangers").
	d, err := daemon.Init(ctx, daemon.Config{Bins: bins, Procs: test.Procs(t), Name: "victim", Dir: filepath.Join(t.TempDir(), "victim"),
		RunArgs: []string{"--reachability", "public"}})
	if err != nil {
		t.Fatal(err)
	}
	var boots []string
	if boot != nil {
		for _, a := range boot.info.Addrs {
			boots = append(boots, a.String()+"/p2p/"+boot.info.ID.String())
		}
	}
	if err := d.Launch(boots); err != nil {
		t.Fatal(err)
	}
	v := &victim{Parleyd: d}
	if v.account, err = crypto.ParseAccountID(d.AccountID); err != nil {
		t.Fatal(err)
	}
	dev, err := crypto.ParseDeviceID(d.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	v.info.ID = peer.ID(dev)
	test.WaitFor(t, 30*time.Second, func() error {
		if d.Proc.Exited() {
			return wait.Stop(d.Proc.Failure("exited"))
		}
		s, err := d.Status(ctx)
		if err != nil {
			return err
		}
		v.info.Addrs = nil
		for _, a := range s.Addrs {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return wait.Stop(err)
			}
			if _, err := m.ValueForProtocol(ma.P_TCP); err == nil {
				v.info.Addrs = append(v.info.Addrs, m)
			}
		}
		if len(v.info.Addrs) == 0 {
			return errors.New("no TCP address yet")
		}
		if boot != nil {
			return wait.Published(s)
		}
		return nil
	})
	return v
}

// attacker is a device with a host connected to the victim.
type attacker struct {
	*Device
	h host.Host
}

// newAttacker makes a device (of a new account when a is nil) with a host
// connected to v.
func newAttacker(t testing.TB, v peer.AddrInfo, a *Account) *attacker {
	t.Helper()
	var d *Device
	var err error
	if a == nil {
		d, err = NewStranger()
	} else {
		d, err = a.NewDevice()
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.LightHost()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := Connect(context.Background(), h, v); err != nil {
		t.Fatal(err)
	}
	return &attacker{d, h}
}

// send signs and sends a contact message of kind to the victim.
func (a *attacker) send(ctx context.Context, v peer.AddrInfo, to crypto.AccountID, kind, name, message string, record []byte) error {
	msg, err := a.ContactMessage(kind, to, name, message, record)
	if err != nil {
		return err
	}
	return SendContact(ctx, a.h, v.ID, msg)
}

// refusalCode is the code of a refusal, "" when err is nil, and fails the
// test when the exchange itself failed.
func refusalCode(t *testing.T, what string, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("%s: the exchange failed: %v", what, err)
	}
	return r.Code
}

func contactState(t *testing.T, v *victim, account crypto.AccountID) string {
	t.Helper()
	cs, err := v.Client().Contacts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.AccountID == account.String() {
			return c.State
		}
	}
	return "none"
}

// TestNodeContactAttacks plays the contact-protocol attacks against one
// real parleyd, in an order where each leaves the next a clean slate:
// a stranger making himself a contact (issue 14 finding 1), names and
// messages with terminal escapes (finding 10), and a flood of requests from
// strangers (finding 4).
func TestNodeContactAttacks(t *testing.T) {
	t.Parallel()
	v := startVictim(t, nil)
	ctx := t.Context()

	// A friend: its request accepted by the user (its accept back is never
	// delivered, which does not matter here).
	friend := newAttacker(t, v.info, nil)
	if err := friend.send(ctx, v.info, v.account, "request", "friend", "", nil); err != nil {
		t.Fatalf("friend's request: %v", err)
	}
	if _, err := v.Client().ContactOp(ctx, "accept", apitype.ContactRequest{AccountID: friend.Account.Cert.ID.String()}); err != nil {
		t.Fatal(err)
	}

	t.Run("stranger accepts his own request", func(t *testing.T) {
		m := newAttacker(t, v.info, nil)
		if err := m.send(ctx, v.info, v.account, "request", "mallory", "", nil); err != nil {
			t.Fatalf("request: %v", err)
		}
		err := m.send(ctx, v.info, v.account, "accept", "mallory", "", nil)
		if code := refusalCode(t, "accept", err); code != "unexpected" {
			t.Errorf("the stranger's accept after his own request: refusal %q (%v), want unexpected", code, err)
		}
		if s := contactState(t, v, m.Account.Cert.ID); s != "request-received" {
			t.Errorf("the stranger is %s after request then accept, want request-received", s)
		}
		// A second device of his account cannot accept for him either.
		m2 := newAttacker(t, v.info, m.Account)
		if code := refusalCode(t, "accept", m2.send(ctx, v.info, v.account, "accept", "", "", nil)); code != "unexpected" {
			t.Errorf("accept from the stranger's second device: refusal %q, want unexpected", code)
		}
		if s := contactState(t, v, m.Account.Cert.ID); s != "request-received" {
			t.Errorf("the stranger is %s, want request-received", s)
		}
	})

	t.Run("terminal escapes in names and messages", func(t *testing.T) {
		// A name with an escape sequence is refused at receipt.
		esc := newAttacker(t, v.info, nil)
		err := esc.send(ctx, v.info, v.account, "request", "\x1b[2J\x1b[Hbank", "", nil)
		if code := refusalCode(t, "escape name", err); code != "invalid" {
			t.Errorf("a name with an escape sequence: refusal %q (%v), want invalid", code, err)
		}
		if s := contactState(t, v, esc.Account.Cert.ID); s != "none" {
			t.Errorf("the escape-named stranger is %s, want none", s)
		}
		// What passes the receiver (a bidi override in the name, a
		// newline in the message) is shown escaped by `parley contacts`.
		fake := "request-received   bank               " + esc.Account.Cert.ID.String()
		m := newAttacker(t, v.info, nil)
		if err := m.send(ctx, v.info, v.account, "request", "evil\u202egnp.exe", "hello\n"+fake, nil); err != nil {
			t.Fatalf("request with a bidi override and a newline: %v", err)
		}
		r, err := v.CLI(ctx, "contacts")
		if err != nil {
			t.Fatal(err)
		}
		out := r.Stdout
		if strings.ContainsAny(out, "\x1b\u202e") {
			t.Errorf("`parley contacts` printed a raw escape or bidi override:\n%q", out)
		}
		for line := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(line, "request-received") && strings.Contains(line, esc.Account.Cert.ID.String()) {
				t.Errorf("`parley contacts` shows a row the message faked:\n%s", out)
			}
		}
		if !strings.Contains(out, `evil\u202egnp.exe`) || !strings.Contains(out, `hello\nrequest-received`) {
			t.Errorf("`parley contacts` does not show the name and message escaped:\n%s", out)
		}
	})

	t.Run("request flood from strangers", func(t *testing.T) {
		const extra = 44
		n := maxPendingRequests + extra
		before, err := v.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pendingBefore := 0
		cs, err := v.Client().Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.State == "request-received" {
				pendingBefore++
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		next := make(chan int, n)
		for i := range n {
			next <- i
		}
		close(next)
		for range 8 {
			wg.Go(func() {
				for range next {
					d, err := NewStranger()
					if err != nil {
						errs <- err
						return
					}
					h, err := d.LightHost()
					if err != nil {
						errs <- err
						return
					}
					if err := Connect(ctx, h, v.info); err != nil {
						h.Close()
						errs <- err
						return
					}
					a := &attacker{d, h}
					if err := a.send(ctx, v.info, v.account, "request", "spam", "buy now", nil); err != nil {
						errs <- err
					}
					h.Close()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("a stranger's request was not taken: %v", err)
		}
		cs, err = v.Client().Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pending := 0
		for _, c := range cs {
			if c.State == "request-received" {
				pending++
			}
		}
		if pending != maxPendingRequests {
			t.Errorf("%d requests pending after %d from strangers, want the bound %d", pending, n, maxPendingRequests)
		}
		if s := contactState(t, v, friend.Account.Cert.ID); s != "accepted" {
			t.Errorf("the accepted friend is %s after the flood", s)
		}
		after, err := v.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(pendingBefore + n - maxPendingRequests)
		if got := after.Dropped["contact_requests"] - before.Dropped["contact_requests"]; got != want {
			t.Errorf("dropped.contact_requests grew by %d, want %d", got, want)
		}
		if after.Memory.HeapLiveBytes == 0 || after.Memory.Goroutines == 0 {
			t.Errorf("status memory = %+v, want the live heap and goroutines", after.Memory)
		}
		t.Logf("after %d requests: %d pending, %d dropped, live heap %.1f MiB, %d goroutines", n, pending,
			after.Dropped["contact_requests"], float64(after.Memory.HeapLiveBytes)/(1<<20), after.Memory.Goroutines)
	})
}
