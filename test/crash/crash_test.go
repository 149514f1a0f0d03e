package crash

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// defaultKills is how many times the test kills parleyd (PARLEY_CRASH_KILLS
// changes it).
const defaultKills = 30

// settleTimeout bounds each wait for a consequence of an operation (a
// queued message delivered, the new device's verdict).
const settleTimeout = 20 * time.Second

var linkCodeLine = regexp.MustCompile(`Link code: (\S+)`)

// op is one operation that the victim's API is asked for while the victim
// is killed at a random moment.
type op struct {
	name string
	// maxDelay bounds the random wait between sending the request and the
	// kill: about the time the operation takes, so that kills land before,
	// inside and after it.
	maxDelay time.Duration
	// call sends the request.
	call func(ctx context.Context) error
	// check runs after the restart, told whether the API acknowledged the
	// request before the kill.
	check func(acked bool)
}

// world is the test's processes and what it knows about them.
type world struct {
	t     *testing.T
	ctx   context.Context
	rng   *rand.Rand
	bins  daemon.Binaries
	procs *proc.Group
	boot  []string
	vic   *daemon.Parleyd // killed again and again
	peer  *daemon.Parleyd // its contact, never killed

	// relation is the contact between vic and peer as vic sees it: "" (no
	// contact) or "accepted"; requests in flight are settled in the round
	// that makes them.
	relation string
	settings map[string]string // vic's values as last settled
	linked   []string          // devices linked to vic's account, not revoked
	ghosts   int               // devices vic lists that never took the account
	links    int
}

// TestKillDuringOperations kills parleyd with SIGKILL at random moments of
// contact add, accept and remove, device link and revoke and settings
// changes, restarts it each time, and checks that it starts, that what its
// API acknowledged is there and that nothing is half-done.
func TestKillDuringOperations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PARLEY_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_CRASH_SEED: %v", err)
		}
		seed = v
	}
	kills := defaultKills
	if s := os.Getenv("PARLEY_CRASH_KILLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("PARLEY_CRASH_KILLS: %q", s)
		}
		kills = v
	}
	t.Logf("seed %d (replay with PARLEY_CRASH_SEED=%d)", seed, seed)
	w := newWorld(t, seed)
	start := time.Now()
	counts := map[string]int{}
	acks := 0
	for i := range kills {
		o := w.nextOp()
		delay := time.Duration(w.rng.Int64N(int64(o.maxDelay) + 1))
		acked := w.killDuring(o, delay)
		counts[o.name]++
		if acked {
			acks++
		}
		t.Logf("kill %d: %s, killed %v after the request, acknowledged: %v", i+1, o.name, delay.Round(time.Microsecond), acked)
		w.restart()
		o.check(acked)
		w.checkAlways()
	}
	if err := w.vic.Stop(); err != nil {
		t.Fatalf("the daemon does not stop cleanly after %d kills: %v", kills, err)
	}
	t.Logf("%d kills (%v), %d acknowledged before the kill; %d devices linked, %d left listed without having the account; %v",
		kills, counts, acks, w.links, w.ghosts, time.Since(start).Round(time.Millisecond))
}

func newWorld(t *testing.T, seed uint64) *world {
	w := &world{
		t: t, ctx: t.Context(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		bins: test.BuildBinaries(t), procs: test.Procs(t),
		settings: map[string]string{"calls.auto_answer": "off", "calls.allow_non_contacts": "false"},
	}
	b, err := daemon.StartBootstrap(w.ctx, daemon.BootstrapConfig{
		Bin: w.bins.Bootstrap, Procs: w.procs, Dir: filepath.Join(t.TempDir(), "bootstrap"),
	})
	w.ok(err)
	// Processes that get killed use TCP only: the kernel closes their
	// connections when they die, while a QUIC connection of a killed
	// process stays open on the bootstrap until its idle timeout, and a
	// bootstrap takes at most 8 connections from one IP address (all of
	// this test is 127.0.0.1): a few quick kills would lock the next
	// restart out for half a minute.
	for _, a := range b.Addrs {
		if strings.Contains(a, "/tcp/") {
			w.boot = append(w.boot, a)
		}
	}
	w.vic = w.daemon("vic")
	w.peer = w.daemon("peer")
	w.ok(w.vic.Start(w.ctx, w.boot))
	w.ok(w.peer.Start(w.ctx, w.boot))
	return w
}

func (w *world) daemon(name string) *daemon.Parleyd {
	d, err := daemon.Init(w.ctx, daemon.Config{
		Bins: w.bins, Procs: w.procs, Name: name, Dir: filepath.Join(w.t.TempDir(), name),
		Timeout: settleTimeout,
		RunArgs: []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--dht-mode", "client", "--retry-interval", "300ms"},
	})
	w.ok(err)
	return d
}

func (w *world) ok(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// killDuring sends o's request and kills the victim delay later; it
// returns whether the API acknowledged the request.
func (w *world) killDuring(o op, delay time.Duration) bool {
	res := make(chan error, 1)
	go func() { res <- o.call(w.ctx) }()
	time.Sleep(delay) // not a wait for state: the random kill moment
	w.vic.Kill()
	return <-res == nil
}

// restart starts the killed victim again; it must come up.
func (w *world) restart() {
	w.t.Helper()
	if err := w.vic.Start(w.ctx, w.boot); err != nil {
		w.t.Fatalf("the daemon does not start after the kill: %v", err)
	}
}

// nextOp picks an operation that the current state allows.
func (w *world) nextOp() op {
	var choices []func() op
	switch w.relation {
	case "":
		choices = append(choices, w.opAdd, w.opAdd, w.opAccept, w.opAccept)
	case "accepted":
		choices = append(choices, w.opRemove, w.opRemove)
	}
	choices = append(choices, w.opSetting, w.opSetting)
	if len(w.linked)+w.ghosts < 8 {
		choices = append(choices, w.opLink, w.opLink)
	}
	if len(w.linked) > 0 {
		choices = append(choices, w.opRevoke, w.opRevoke)
	}
	return choices[w.rng.IntN(len(choices))]()
}

// ---- contacts ----

// vicContact returns vic's contact peer, or ok false.
func (w *world) vicContact() (apitype.Contact, bool) {
	w.t.Helper()
	cs, err := w.vic.Client().Contacts(w.ctx)
	w.ok(err)
	for _, c := range cs {
		if c.AccountID == w.peer.AccountID {
			return c, true
		}
	}
	return apitype.Contact{}, false
}

func (w *world) contactOp(d *daemon.Parleyd, opName, account string) error {
	_, err := d.Client().ContactOp(w.ctx, opName, apitype.ContactRequest{AccountID: account})
	return err
}

// opAdd: vic sends peer a contact request. Acknowledged, it is
// request-sent; once there, the request reaches peer. Peer then accepts.
func (w *world) opAdd() op {
	return op{
		name: "contact add", maxDelay: 4 * time.Millisecond,
		call: func(context.Context) error { return w.contactOp(w.vic, "add", w.peer.AccountID) },
		check: func(acked bool) {
			c, ok := w.vicContact()
			if acked && (!ok || c.State != "request-sent") {
				w.t.Fatalf("contact add was acknowledged, but after the restart peer is %+v (listed %v)", c, ok)
			}
			if !ok {
				return // not done at all: nothing to settle
			}
			if c.State != "request-sent" {
				w.t.Fatalf("after a killed contact add, peer is %s", c.State)
			}
			// Not half-done: the request was queued with the contact, so
			// it reaches peer.
			w.ok(w.peer.WaitContact(w.ctx, w.vic.AccountID, wait.ContactIs("request-received")))
			w.ok(w.contactOp(w.peer, "accept", w.vic.AccountID))
			w.ok(w.vic.WaitContact(w.ctx, w.peer.AccountID, wait.ContactIs("accepted")))
			w.relation = "accepted"
		},
	}
}

// opAccept: peer sends vic a request and vic accepts it. Acknowledged, it
// is accepted; once accepted, the acceptance reaches peer.
func (w *world) opAccept() op {
	w.ok(w.contactOp(w.peer, "add", w.vic.AccountID))
	w.ok(w.vic.WaitContact(w.ctx, w.peer.AccountID, wait.ContactIs("request-received")))
	return op{
		name: "contact accept", maxDelay: 4 * time.Millisecond,
		call: func(context.Context) error { return w.contactOp(w.vic, "accept", w.peer.AccountID) },
		check: func(acked bool) {
			c, ok := w.vicContact()
			switch {
			case acked && (!ok || c.State != "accepted"):
				w.t.Fatalf("contact accept was acknowledged, but after the restart peer is %+v (listed %v)", c, ok)
			case !ok || (c.State != "accepted" && c.State != "request-received"):
				w.t.Fatalf("after a killed contact accept, peer is %+v (listed %v)", c, ok)
			case c.State == "request-received":
				w.ok(w.contactOp(w.vic, "accept", w.peer.AccountID)) // not done: do it now
			}
			w.ok(w.peer.WaitContact(w.ctx, w.vic.AccountID, wait.ContactIs("accepted")))
			w.relation = "accepted"
		},
	}
}

// opRemove: vic removes peer. Acknowledged, peer is gone from vic's
// contacts; once gone, peer learns it was removed.
func (w *world) opRemove() op {
	return op{
		name: "contact remove", maxDelay: 4 * time.Millisecond,
		call: func(context.Context) error { return w.contactOp(w.vic, "remove", w.peer.AccountID) },
		check: func(acked bool) {
			c, ok := w.vicContact()
			switch {
			case acked && ok:
				w.t.Fatalf("contact remove was acknowledged, but after the restart peer is still %s", c.State)
			case ok && c.State != "accepted":
				w.t.Fatalf("after a killed contact remove, peer is %s", c.State)
			case ok:
				w.ok(w.contactOp(w.vic, "remove", w.peer.AccountID)) // not done: do it now
			}
			w.ok(w.peer.WaitContact(w.ctx, w.vic.AccountID, wait.ContactIs("removed")))
			w.relation = ""
		},
	}
}

// ---- settings ----

// opSetting changes one setting. Acknowledged, the new value is there
// after the restart; otherwise the old or the new one.
func (w *world) opSetting() op {
	keys := []string{"calls.auto_answer", "calls.allow_non_contacts"}
	key := keys[w.rng.IntN(len(keys))]
	old := w.settings[key]
	next := map[string]string{"off": "contacts", "contacts": "off", "false": "true", "true": "false"}[old]
	return op{
		name: "set " + key, maxDelay: 4 * time.Millisecond,
		call: func(ctx context.Context) error { return w.vic.Client().SetSetting(ctx, key, next) },
		check: func(acked bool) {
			s, err := w.vic.Client().Settings(w.ctx)
			w.ok(err)
			got := s[key]
			if got != next && (acked || got != old) {
				w.t.Fatalf("set %s %s (acknowledged %v): after the restart it is %q", key, next, acked, got)
			}
			w.settings[key] = got
		},
	}
}

// ---- devices ----

// vicDevices returns vic's device list by device ID.
func (w *world) vicDevices() map[string]apitype.Device {
	w.t.Helper()
	ds, err := w.vic.Client().Devices(w.ctx)
	w.ok(err)
	out := map[string]apitype.Device{}
	for _, d := range ds {
		out[d.DeviceID] = d
	}
	return out
}

// opLink links a new device (`parleyd init --link`) and kills vic while
// it confirms the SAS. Acknowledged, the new device is linked and listed;
// whenever the new device took the account, vic lists it (it may list a
// device that never got it, when killed between storing and sending).
func (w *world) opLink() op {
	w.links++
	name := fmt.Sprintf("new-%d", w.links)
	args := []string{"init", "--link", "--yes", "--data", filepath.Join(w.t.TempDir(), name), "--name", name, "--no-qr", "--listen", "/ip4/127.0.0.1/tcp/0"}
	for _, b := range w.boot {
		args = append(args, "--bootstrap", b)
	}
	lp, err := w.procs.Start(proc.Spec{Name: "parleyd init --link " + name, Path: w.bins.Parleyd, Args: args})
	w.ok(err)
	var code string
	test.WaitFor(w.t, settleTimeout, func() error {
		m := linkCodeLine.FindStringSubmatch(lp.Output())
		if m == nil {
			if lp.Exited() {
				w.t.Fatal(lp.Failure("exited before showing a code"))
			}
			return errors.New("no link code yet")
		}
		code = m[1]
		return nil
	})
	s, err := w.vic.Client().ApproveLink(w.ctx, apitype.LinkApprove{Code: code})
	w.ok(err)
	return op{
		name: "link confirm", maxDelay: 80 * time.Millisecond,
		call: func(ctx context.Context) error {
			_, err := w.vic.Client().ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: s.SAS})
			return err
		},
		check: func(acked bool) {
			took := w.linkVerdict(lp)
			listed := false
			if d, ok := w.vicDevices()[s.DeviceID]; ok && !d.Revoked {
				listed = true
			}
			switch {
			case acked && !took:
				w.t.Fatalf("link confirm was acknowledged, but the new device did not take the account:\n%s", lp.Tail(10))
			case took && !listed:
				w.t.Fatalf("the new device %s took the account, but vic does not list it after the restart", s.DeviceID)
			case took:
				w.linked = append(w.linked, s.DeviceID)
			case listed:
				w.ghosts++
				w.linked = append(w.linked, s.DeviceID) // revocable like any other
			}
		},
	}
}

// linkVerdict waits until `parleyd init --link` has linked (exit 0) or
// has reported the failed attempt, stops it, and says whether it linked.
func (w *world) linkVerdict(lp *proc.Proc) bool {
	w.t.Helper()
	test.WaitFor(w.t, settleTimeout, func() error {
		if lp.Exited() || strings.Contains(lp.Output(), "Attempt failed") {
			return nil
		}
		return errors.New("the new device has neither linked nor failed")
	})
	if !lp.Exited() {
		lp.Kill()
		return false
	}
	return lp.ExitCode() == 0
}

// opRevoke revokes one linked device. Acknowledged, it is revoked after the
// restart.
func (w *world) opRevoke() op {
	i := w.rng.IntN(len(w.linked))
	dev := w.linked[i]
	return op{
		name: "revoke", maxDelay: 6 * time.Millisecond,
		call: func(ctx context.Context) error {
			_, err := w.vic.Client().RevokeDevice(ctx, dev)
			return err
		},
		check: func(acked bool) {
			d, ok := w.vicDevices()[dev]
			if !ok {
				w.t.Fatalf("device %s is gone from the list after a killed revoke", dev)
			}
			if acked && !d.Revoked {
				w.t.Fatalf("revoking %s was acknowledged, but after the restart it is not revoked", dev)
			}
			if d.Revoked {
				w.linked = slices.Delete(w.linked, i, i+1)
			}
		},
	}
}

// checkAlways runs after every restart: the daemon's own device is listed
// first and not revoked, and every device known linked is there.
func (w *world) checkAlways() {
	w.t.Helper()
	ds, err := w.vic.Client().Devices(w.ctx)
	w.ok(err)
	if len(ds) == 0 || !ds[0].Self || ds[0].DeviceID != w.vic.DeviceID || ds[0].Revoked {
		w.t.Fatalf("after the restart the daemon lists devices %+v; want itself first", ds)
	}
	have := w.vicDevices()
	for _, d := range w.linked {
		if x, ok := have[d]; !ok || x.Revoked {
			w.t.Fatalf("linked device %s is missing or revoked after the restart", d)
		}
	}
}
