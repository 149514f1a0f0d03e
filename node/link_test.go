package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test"
)

// linkEvents collects a link request's events.
type linkEvents struct {
	mu  sync.Mutex
	evs []node.LinkEvent
}

func (l *linkEvents) add(ev node.LinkEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// wait returns the first event of type typ, waiting for it.
// has reports whether an event of type typ arrived.
func (l *linkEvents) has(typ string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.evs {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

func (l *linkEvents) wait(t testing.TB, typ string) node.LinkEvent {
	t.Helper()
	var got node.LinkEvent
	test.WaitFor(t, 10*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, ev := range l.evs {
			if ev.Type == typ {
				got = ev
				return nil
			}
		}
		return fmt.Errorf("no %s event in %+v", typ, l.evs)
	})
	return got
}

// newLinkRequest starts a new device waiting in a new data dir.
func newLinkRequest(t testing.TB, name string, bs []*testBootstrap, edit func(*node.LinkOptions)) (*node.LinkRequest, *linkEvents, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	evs := &linkEvents{}
	o := node.LinkOptions{
		AccountOptions: node.AccountOptions{DeviceName: name, KDF: pcrypto.TestKDFParams},
		Bootstraps:     bootstrapAddrs(bs),
		ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/0"},
		Logger:         quiet(t),
		OnEvent:        evs.add,
		AutoConfirm:    true,
	}
	if edit != nil {
		edit(&o)
	}
	r, err := node.NewLinkRequest(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, evs, dir
}

// linkNewDevice links a new device to approver's account, comparing the SAS
// both sides show, and returns its data dir (released).
func linkNewDevice(t testing.TB, approver *testNode, name string, bs []*testBootstrap) string {
	t.Helper()
	return linkNewDeviceAs(t, approver, name, bs, false)
}

// linkNewDeviceAs is linkNewDevice making an admin device when admin is set.
func linkNewDeviceAs(t testing.TB, approver *testNode, name string, bs []*testBootstrap, admin bool) string {
	t.Helper()
	r, evs, dir := newLinkRequest(t, name, bs, nil)
	ctx := context.Background()
	s, err := approver.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code(), Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	shown := evs.wait(t, node.LinkEventSAS)
	if shown.SAS != s.SAS || shown.Account != approver.account.String() || s.DeviceName != name {
		t.Fatalf("new device shows SAS %q for %s, approver %q (device name %q)", shown.SAS, shown.Account, s.SAS, s.DeviceName)
	}
	done, err := approver.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: shown.SAS})
	if err != nil || done.State != apitype.LinkStateLinked {
		t.Fatalf("confirm: %+v, %v", done, err)
	}
	id, err := r.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.AccountID != approver.account.String() || id.DeviceID != r.DeviceID().String() {
		t.Fatalf("linked identity %+v", id)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lookupDevices returns the device IDs a's lookup of account finds.
func lookupDevices(a *testNode, account pcrypto.AccountID) ([]string, error) {
	l, err := a.Lookup(context.Background(), account)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range l.Devices {
		out = append(out, d.DeviceID)
	}
	return out, nil
}

func waitLookup(t testing.TB, a *testNode, account pcrypto.AccountID, want ...*testNode) {
	t.Helper()
	var ids []string
	for _, w := range want {
		ids = append(ids, w.Keys().DeviceCert.Device.String())
	}
	test.WaitFor(t, 40*time.Second, func() error {
		got, err := lookupDevices(a, account)
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != strings.Join(sortedCopy(ids), ",") {
			return fmt.Errorf("lookup finds %v, want %v", got, ids)
		}
		return nil
	})
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestLinkCallRevoke is the whole story in one process: bob links a second
// device with a link code (the SAS matches on both sides; the new device
// gets bob's contacts), a call from alice rings both of bob's devices and the
// second answers (alice's history names it), bob revokes it from the first
// device, and then alice's calls ring only the first device while a call
// from the revoked device is refused with a reason.
func TestLinkCallRevoke(t *testing.T) {
	bs := startBootstraps(t, 1)
	alice := startNode(t, initAccount(t, "alice"), bs)
	bob1 := startNode(t, initAccount(t, "bob-laptop"), bs)
	waitPublished(t, alice, bob1)
	befriend(t, alice, bob1)

	bob2 := startNode(t, linkNewDevice(t, bob1, "bob-phone", bs), bs)
	if c, ok := contactState(t, bob2, alice.account); !ok || c.State != "accepted" {
		t.Fatalf("the new device's contacts: alice is %+v", c)
	}
	if bob2.account != bob1.account {
		t.Fatal("the new device is of another account")
	}
	waitPublished(t, bob2)
	waitLookup(t, alice, bob1.account, bob1, bob2)
	ds, err := bob1.Devices()
	if err != nil || len(ds) != 2 || !ds[0].Self || ds[1].Name != "bob-phone" || ds[1].Revoked {
		t.Fatalf("bob's devices: %+v, %v", ds, err)
	}

	// A call rings both; the phone answers.
	if err := bob2.Store().SetSetting(string(node.SettingAutoAnswer), "contacts"); err != nil {
		t.Fatal(err)
	}
	c, err := alice.StartCall(context.Background(), apitype.CallRequest{AccountID: bob1.account.String(), Audio: "tone:600"})
	if err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 10*time.Second, func() error {
		if _, ok := findCall(bob1, c.ID); !ok {
			return errors.New("bob's laptop did not ring")
		}
		return nil
	})
	ac := waitTone(t, alice, c.ID, 440)
	bob2ID := bob2.Keys().DeviceCert.Device.String()
	if ac.PeerDevice != bob2ID {
		t.Fatalf("alice is connected to %s, want bob's phone", ac.PeerDevice)
	}
	if err := alice.HangUp(apitype.CallAction{CallID: c.ID}); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 10*time.Second, func() error {
		hist, err := alice.Store().Calls()
		if err != nil || len(hist) == 0 {
			return fmt.Errorf("no history yet (%v)", err)
		}
		if h := hist[len(hist)-1]; h.ID != c.ID || h.PeerDevice.String() != bob2ID || !h.Answered {
			return fmt.Errorf("history %+v, want answered by %s", h, bob2ID)
		}
		return nil
	})

	// Revoke the phone from the laptop.
	rev, err := bob1.RevokeDevice(context.Background(), bob2ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rev.Device.Revoked || rev.CRLNumber != 1 {
		t.Fatalf("revocation %+v", rev)
	}
	waitLookup(t, alice, bob1.account, bob1)
	test.WaitFor(t, 20*time.Second, func() error { // the phone is told
		ds, err := bob2.Devices()
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.Self && d.Revoked {
				return nil
			}
		}
		return fmt.Errorf("the phone does not know it is revoked: %+v", ds)
	})
	// The revocation rotated bob's presence key: alice (a contact) gets
	// the new one, the revoked phone keeps the old one.
	k, err := bob1.Store().PresenceKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.Gen < 2 {
		t.Fatalf("bob's presence key after the revocation: generation %d, want a rotation", k.Gen)
	}
	waitContactKey(t, alice, bob1, k)
	if old, err := bob2.Store().PresenceKey(); err != nil || old == k {
		t.Fatalf("the revoked phone holds the new presence key (%v)", err)
	}
	// Its status says so (the new user's review: it said nothing).
	if st, err := bob2.Status(); err != nil || !strings.Contains(st.Revoked, "revoked") {
		t.Fatalf("the revoked phone's status: revoked %q, %v", st.Revoked, err)
	}
	if st, err := bob1.Status(); err != nil || st.Revoked != "" {
		t.Fatalf("the laptop's status says revoked: %q, %v", st.Revoked, err)
	}

	// Now only the laptop rings.
	if err := bob1.Store().SetSetting(string(node.SettingAutoAnswer), "contacts"); err != nil {
		t.Fatal(err)
	}
	c2, err := alice.StartCall(context.Background(), apitype.CallRequest{AccountID: bob1.account.String()})
	if err != nil {
		t.Fatal(err)
	}
	ac2 := waitTone(t, alice, c2.ID, 440)
	if ac2.PeerDevice != bob1.Keys().DeviceCert.Device.String() {
		t.Fatalf("second call answered by %s", ac2.PeerDevice)
	}
	if _, ok := findCall(bob2, c2.ID); ok {
		t.Fatal("the revoked phone rang")
	}
	_ = alice.HangUp(apitype.CallAction{CallID: c2.ID})

	// The revoked phone's call to alice is refused, with the reason.
	c3, err := bob2.StartCall(context.Background(), apitype.CallRequest{AccountID: alice.account.String()})
	if err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 20*time.Second, func() error {
		got, _ := findCall(bob2, c3.ID)
		if got.State != "ended" {
			return fmt.Errorf("revoked device's call is %s", got.State)
		}
		if !strings.Contains(got.Reason, "revoked") {
			t.Fatalf("revoked device's call ended with %q, want a revocation reason", got.Reason)
		}
		return nil
	})
	if a3, ok := findCall(alice, c3.ID); ok {
		t.Fatalf("alice took the revoked device's call: %+v", a3)
	}
	// And it cannot approve new devices for the account.
	_, err = bob2.ApproveLink(context.Background(), apitype.LinkApprove{Code: someCode(t)})
	if !errors.Is(err, node.ErrDeviceRevoked) {
		t.Fatalf("a revoked device approving a link: %v", err)
	}
}

// someCode is a well-formed code for a device nobody runs.
func someCode(t testing.TB) string {
	dk, err := pcrypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return (&node.LinkCode{Device: dk.ID(), Expires: time.Now().Add(time.Minute)}).String()
}

// hasDevice reports whether n's store holds a certificate of device d.
func hasDevice(t testing.TB, n *testNode, d pcrypto.DeviceID) bool {
	certs, err := n.Store().DeviceCerts()
	if err != nil {
		t.Fatal(err)
	}
	_, ok := certs[d]
	return ok
}

// TestLinkRefusals: each way a link attempt fails is refused with its
// reason on the approving device, reported on the new device, and transfers
// nothing.
func TestLinkRefusals(t *testing.T) {
	bs := startBootstraps(t, 1)
	bob := startNode(t, initAccount(t, "bob"), bs)
	carol := startNode(t, initAccount(t, "carol"), bs)
	ctx := context.Background()
	noTransfer := func(t *testing.T, r *node.LinkRequest) {
		t.Helper()
		for _, n := range []*testNode{bob, carol} {
			if hasDevice(t, n, r.DeviceID()) {
				t.Fatalf("%s added the device", n.dir)
			}
		}
		select {
		case <-r.Done():
			if _, err := r.Wait(ctx); err == nil {
				t.Fatal("the new device was linked")
			}
		default:
		}
	}

	t.Run("wrong SAS", func(t *testing.T) {
		r, evs, _ := newLinkRequest(t, "phone", bs, nil)
		s, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
		if err != nil {
			t.Fatal(err)
		}
		wrong := "000 000"
		if s.SAS == wrong {
			wrong = "111 111"
		}
		// A typo can be retried in the session; the third one ends it.
		for i := range 3 {
			_, err = bob.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: wrong})
			if !errors.Is(err, node.ErrLinkSAS) {
				t.Fatalf("wrong SAS %d: %v", i+1, err)
			}
			if i < 2 && evs.has(node.LinkEventFailed) {
				t.Fatalf("wrong SAS %d ended the session", i+1)
			}
		}
		ev := evs.wait(t, node.LinkEventFailed)
		if !errors.Is(ev.Err, node.ErrLinkSAS) || ev.AttemptsLeft != 2 {
			t.Fatalf("new device shows %+v", ev)
		}
		noTransfer(t, r)
		// The session is gone: confirming it again does nothing.
		if _, err := bob.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: s.SAS}); !errors.Is(err, node.ErrNoLinkSession) {
			t.Fatalf("confirming a failed session: %v", err)
		}
	})

	t.Run("expired code, checked by the approver", func(t *testing.T) {
		r, _, _ := newLinkRequest(t, "phone", bs, func(o *node.LinkOptions) { o.TTL = time.Second })
		test.WaitFor(t, 5*time.Second, func() error {
			if time.Now().Before(r.Expires()) {
				return errors.New("not expired yet")
			}
			return nil
		})
		_, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
		if !errors.Is(err, node.ErrLinkExpired) {
			t.Fatalf("expired code: %v", err)
		}
		if _, err := r.Wait(ctx); !errors.Is(err, node.ErrLinkExpired) {
			t.Fatalf("the new device's request ended with %v", err)
		}
		noTransfer(t, r)
	})

	t.Run("expired code, checked by the new device", func(t *testing.T) {
		// The new device's clock moves past the expiry; the approver's
		// does not.
		var skew atomic.Int64
		r, evs, _ := newLinkRequest(t, "phone", bs, func(o *node.LinkOptions) {
			o.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		})
		skew.Store(int64(10 * time.Minute))
		_, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
		if !errors.Is(err, node.ErrLinkExpired) {
			t.Fatalf("approving: %v", err)
		}
		if _, err := r.Wait(ctx); !errors.Is(err, node.ErrLinkExpired) {
			t.Fatalf("the new device's request ended with %v", err)
		}
		_ = evs
		noTransfer(t, r)
	})

	t.Run("reused code", func(t *testing.T) {
		r, evs, _ := newLinkRequest(t, "phone", bs, nil)
		s, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code(), SAS: evs.wait(t, node.LinkEventSAS).SAS}); err != nil {
			t.Fatalf("confirming by code: %v", err)
		}
		_ = s
		if _, err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		// The same approver remembers the code...
		if _, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()}); !errors.Is(err, node.ErrLinkUsed) {
			t.Fatalf("reusing a code: %v", err)
		}
		// ...and the new device refuses anyone else.
		if _, err := carol.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()}); !errors.Is(err, node.ErrLinkUsed) {
			t.Fatalf("reusing a code from another account: %v", err)
		}
		if hasDevice(t, carol, r.DeviceID()) {
			t.Fatal("carol added the device")
		}
	})

	t.Run("third device racing", func(t *testing.T) {
		r, evs, _ := newLinkRequest(t, "phone", bs, nil)
		codes := []string{r.Code(), r.Code()}
		results := make([]*apitype.LinkSession, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, n := range []*testNode{bob, carol} {
			wg.Go(func() { results[i], errs[i] = n.ApproveLink(ctx, apitype.LinkApprove{Code: codes[i]}) })
		}
		wg.Wait()
		winner, loser := 0, 1
		if errs[0] != nil {
			winner, loser = 1, 0
		}
		if errs[winner] != nil || !errors.Is(errs[loser], node.ErrLinkInUse) {
			t.Fatalf("racing approvals: %v / %v, want one session and one %v", errs[0], errs[1], node.ErrLinkInUse)
		}
		sas := evs.wait(t, node.LinkEventSAS).SAS
		if _, err := []*testNode{bob, carol}[winner].ConfirmLink(ctx, apitype.LinkConfirm{Session: results[winner].Session, SAS: sas}); err != nil {
			t.Fatal(err)
		}
		id, err := r.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w, l := []*testNode{bob, carol}[winner], []*testNode{bob, carol}[loser]
		if id.AccountID != w.account.String() || hasDevice(t, l, r.DeviceID()) || !hasDevice(t, w, r.DeviceID()) {
			t.Fatalf("linked to %s; winner has it %v, loser has it %v", id.AccountID, hasDevice(t, w, r.DeviceID()), hasDevice(t, l, r.DeviceID()))
		}
	})

	t.Run("too many failed attempts", func(t *testing.T) {
		r, evs, _ := newLinkRequest(t, "phone", bs, nil)
		bad := node.WrongSecretCodeForTest(r.Code())
		for i := range 3 {
			_, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: bad})
			if !errors.Is(err, node.ErrLinkProof) {
				t.Fatalf("attempt %d with a wrong secret: %v", i+1, err)
			}
		}
		if _, err := r.Wait(ctx); !errors.Is(err, node.ErrLinkAttempts) {
			t.Fatalf("after 3 failures the request ended with %v", err)
		}
		if ev := evs.wait(t, node.LinkEventFailed); !errors.Is(ev.Err, node.ErrLinkProof) {
			t.Fatalf("new device shows %+v", ev)
		}
		// Even the right code is refused now.
		if _, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()}); !errors.Is(err, node.ErrLinkAttempts) {
			t.Fatalf("the right code after 3 failures: %v", err)
		}
		noTransfer(t, r)
	})

	t.Run("malformed and own codes", func(t *testing.T) {
		if _, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: "ABCD-EFGH-IJKL"}); !errors.Is(err, node.ErrInvalidInput) {
			t.Fatalf("garbage code: %v", err)
		}
	})
}

// TestLinkOverRelayArchiveNotInClear links a device that is reachable only
// through the bootstrap's circuit relay, and records every link message
// both devices write: the account key and the contacts never appear in
// them (the archive is encrypted inside the Noise channel).
func TestLinkOverRelayArchiveNotInClear(t *testing.T) {
	bs := startBootstraps(t, 1)
	bob := startNode(t, initAccount(t, "bob"), bs)
	waitPublished(t, bob)
	friend, err := pcrypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	const secretName = "Zebediah-the-unmistakable"
	if err := bob.Store().PutContact(store.Contact{AccountID: friend.ID(), Name: secretName, State: store.Accepted}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var wire bytes.Buffer
	defer node.SetLinkWireTapForTest(func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		wire.Write(b)
	})()

	r, evs, dir := newLinkRequest(t, "phone", bs, func(o *node.LinkOptions) { o.RelayOnly = true })
	for _, a := range r.Addrs() {
		if !strings.Contains(a.String(), "/p2p-circuit") {
			t.Fatalf("relay-only device offers %s", a)
		}
	}
	ctx := context.Background()
	s, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
	if err != nil {
		t.Fatal(err)
	}
	if p := bob.Host().Network().ConnsToPeer(peer.ID(r.DeviceID())); len(p) == 0 || !p[0].Stat().Limited {
		t.Fatalf("the link does not go through the relay: %v", p)
	}
	if _, err := bob.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: evs.wait(t, node.LinkEventSAS).SAS}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	r.Close()

	mu.Lock()
	captured := bytes.Clone(wire.Bytes())
	mu.Unlock()
	if len(captured) < 1000 {
		t.Fatalf("captured only %d bytes", len(captured))
	}
	seed := bob.Keys().AccountKey().Seed()
	for name, secret := range map[string][]byte{
		"account key seed":           seed,
		"account key seed (base64)":  []byte(b64(seed)),
		"a contact's name":           []byte(secretName),
		"a contact's account ID":     []byte(friend.ID().String()),
		"the archive's JSON":         []byte("account_key_seed"),
		"the archive's JSON, base64": []byte(b64([]byte(`{"version":1`))[:12]),
	} {
		if bytes.Contains(captured, secret) {
			t.Errorf("%s appears in the link session's bytes", name)
		}
	}
	// Yet the new device has it all.
	st, err := node.OpenStore(dir, node.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if c, err := st.Contact(friend.ID()); err != nil || c.Name != secretName {
		t.Fatalf("the new device's contact: %+v, %v", c, err)
	}
}

// TestSyncBetweenDevices: a contact added on one device while the other is
// stopped reaches it when it starts; two changes made to the same contact
// on both devices while they could not talk converge to the same state on
// both; account settings follow, per-device settings do not; a removal
// propagates.
func TestSyncBetweenDevices(t *testing.T) {
	bs := startBootstraps(t, 1)
	bob1 := startNode(t, initAccount(t, "bob-laptop"), bs)
	waitPublished(t, bob1)
	dir2 := linkNewDevice(t, bob1, "bob-phone", bs)
	carolDir := initAccount(t, "carol")
	carol := accountOf(t, carolDir)

	// Added while the phone is off.
	if _, err := bob1.AddContact(carol, "Carol", "hi"); err != nil {
		t.Fatal(err)
	}
	bob2 := startNode(t, dir2, bs)
	waitContact(t, bob2, carol, func(c apitype.Contact) bool { return c.State == "request-sent" && c.Name == "Carol" })

	// Concurrent changes: the laptop renames carol while the phone is
	// off; the phone blocks her before it learns of that.
	bob2.stop(t)
	if _, err := bob1.RenameContact(carol, "Carol L."); err != nil {
		t.Fatal(err)
	}
	st2, err := node.OpenStore(dir2, node.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.PutContact(store.Contact{AccountID: carol, Name: "Carol P.", State: store.Blocked}); err != nil {
		t.Fatal(err)
	}
	st2.Close()
	bob2 = startNode(t, dir2, bs)
	converged := func(c apitype.Contact) bool { return c.State == "blocked" && c.Name == "Carol P." }
	waitContact(t, bob2, carol, converged) // the later change wins on both
	waitContact(t, bob1, carol, converged)

	// Settings: the account-wide one follows, auto-answer stays per device.
	if err := bob1.SetSetting(node.SettingAllowNonContacts, "true"); err != nil {
		t.Fatal(err)
	}
	if err := bob1.SetSetting(node.SettingAutoAnswer, "contacts"); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 20*time.Second, func() error {
		s, err := bob2.Settings()
		if err != nil {
			return err
		}
		if s[node.SettingAllowNonContacts] != "true" {
			return fmt.Errorf("phone settings %v", s)
		}
		return nil
	})
	if s, _ := bob2.Settings(); s[node.SettingAutoAnswer] != "off" {
		t.Fatalf("auto-answer was replicated: %v", s)
	}

	// A removal propagates.
	if err := bob2.RemoveContact(carol); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 20*time.Second, func() error {
		if _, ok := contactState(t, bob1, carol); ok {
			return errors.New("carol is still on the laptop")
		}
		return nil
	})
}

func accountOf(t testing.TB, dir string) pcrypto.AccountID {
	t.Helper()
	st, err := node.OpenStore(dir, node.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := node.Summary(st, "")
	if err != nil {
		t.Fatal(err)
	}
	acct, err := pcrypto.ParseAccountID(id.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

func waitContact(t testing.TB, n *testNode, account pcrypto.AccountID, ok func(apitype.Contact) bool) {
	t.Helper()
	if err := n.tn.WaitContact(context.Background(), account.String(), ok); err != nil {
		t.Fatal(err)
	}
}

// TestRevokedDeviceCannotRelink: a revoked device still holds the account
// key. When it restores the archive it holds onto a fresh device (a
// "re-link" without approval), the account's other devices refuse to sync
// with that device, do not add it to their device list, and replace an
// account record that lists it; and a revoked device cannot approve links.
func TestRevokedDeviceCannotRelink(t *testing.T) {
	bs := startBootstraps(t, 1)
	bob1 := startNode(t, initAccount(t, "bob-laptop"), bs)
	waitPublished(t, bob1)
	// The phone is an admin: it holds the account key (a member cannot
	// export an archive at all; test/adversary covers revoked members).
	dir2 := linkNewDeviceAs(t, bob1, "bob-phone", bs, true)
	dirTablet := linkNewDevice(t, bob1, "bob-tablet", bs) // stays off until the end
	bob2 := startNode(t, dir2, bs)
	waitPublished(t, bob2)
	bob2ID := bob2.Keys().DeviceCert.Device
	if _, err := bob1.RevokeDevice(context.Background(), bob2ID.String()[:12]); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 20*time.Second, func() error {
		_, err := bob2.ApproveLink(context.Background(), apitype.LinkApprove{Code: someCode(t)})
		if !errors.Is(err, node.ErrDeviceRevoked) {
			return fmt.Errorf("the revoked phone approving a link: %v", err)
		}
		return nil
	})
	bob2.stop(t)

	// The phone's owner restores the archive the phone holds.
	opts := node.AccountOptions{KDF: pcrypto.TestKDFParams}
	st, err := node.OpenStore(dir2, opts)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := node.ExportAccount(st, []byte("pass"), opts)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir3 := filepath.Join(t.TempDir(), "bob-phone-again")
	if _, err := node.RestoreAccount(dir3, archive, []byte("pass"), node.AccountOptions{DeviceName: "again", KDF: pcrypto.TestKDFParams}); err != nil {
		t.Fatal(err)
	}
	bob3 := startNode(t, dir3, bs)
	bob3ID := bob3.Keys().DeviceCert.Device
	waitPublished(t, bob3)

	// The laptop never takes it in, and the account record it publishes
	// replaces the one the rogue device put into the DHT.
	test.WaitFor(t, 45*time.Second, func() error {
		if hasDevice(t, bob1, bob3ID) {
			t.Fatal("the laptop added the re-linked device")
		}
		rec, err := dhtAccount(bob1, bob1.account)
		if err != nil {
			return err
		}
		for _, d := range rec.Devices {
			if d.Device == bob3ID || d.Device == bob2ID {
				return fmt.Errorf("the account record lists %s", d.Device.Short())
			}
		}
		if len(rec.Devices) != 2 { // the laptop and the (offline) tablet
			return fmt.Errorf("the account record lists %d devices", len(rec.Devices))
		}
		return nil
	})
	revokedOn := func(n *testNode) error {
		ds, err := n.Devices()
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.DeviceID == bob2ID.String() && d.Revoked {
				return nil
			}
			if d.DeviceID == bob3ID.String() {
				return fmt.Errorf("%s lists the re-linked device", filepath.Base(n.dir))
			}
		}
		return fmt.Errorf("%s does not know the phone is revoked: %+v", filepath.Base(n.dir), ds)
	}
	if err := revokedOn(bob1); err != nil {
		t.Fatal(err)
	}
	// The tablet was off during all this; it learns the revocation when
	// it starts, and does not take in the rogue device either.
	tablet := startNode(t, dirTablet, bs)
	test.WaitFor(t, 30*time.Second, func() error { return revokedOn(tablet) })
}

// dhtAccount fetches an account record from the DHT, bypassing caches.
func dhtAccount(n *testNode, id pcrypto.AccountID) (*records.Account, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := records.AccountKey(id)
	val, err := n.DHTForTest().GetValue(ctx, key)
	if err != nil {
		return nil, err
	}
	return records.ParseAccount(key, val, time.Now())
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestLinkApproverCrash: the approving device crashes (its store stops
// writing, as under kill -9) at each write it makes once the user
// confirmed the SAS. Whenever the new device ends up linked, the approver
// has it among the account's devices; before the fix it stored the device
// only after the new device's `done`, so a crash there left a linked
// device its own account refuses (finding 11 of issue 14).
func TestLinkApproverCrash(t *testing.T) {
	bs := startBootstraps(t, 1)
	bob := startNode(t, initAccount(t, "bob"), bs)
	ctx := context.Background()
	for n := 1; n <= 3; n++ {
		r, evs, _ := newLinkRequest(t, fmt.Sprintf("phone-%d", n), bs, nil)
		s, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
		if err != nil {
			t.Fatal(err)
		}
		shown := evs.wait(t, node.LinkEventSAS)
		disarm := store.CrashAtWriteForTest(bob.dir, n)
		_, confirmErr := bob.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: shown.SAS})
		var linked bool
		test.WaitFor(t, 10*time.Second, func() error {
			select {
			case <-r.Done():
				_, err := r.Wait(ctx)
				linked = err == nil
				return nil
			default:
			}
			evs.mu.Lock()
			defer evs.mu.Unlock()
			for _, ev := range evs.evs {
				if ev.Type == node.LinkEventFailed {
					return nil
				}
			}
			return fmt.Errorf("the new device has neither linked nor failed: %+v", evs.evs)
		})
		disarm()
		t.Logf("crash at write %d: confirm: %v; new device linked: %v", n, confirmErr, linked)
		if confirmErr == nil && !linked {
			t.Fatalf("crash at write %d: the approver reported success but the new device is not linked", n)
		}
		if linked && !hasDevice(t, bob, r.DeviceID()) {
			t.Fatalf("crash at write %d: the new device is linked, but the approving device does not have it among the account's devices", n)
		}
		r.Close()
	}
}

// TestLinkNewDeviceCrash: the new device crashes at each write it makes
// when it stores the transferred account. Its data dir then holds nothing
// (init --link can run again) or the whole account, its own device among
// the account's devices; before, the archive's parts, the identity and
// the device's certificate were written one by one.
func TestLinkNewDeviceCrash(t *testing.T) {
	bs := startBootstraps(t, 1)
	bob := startNode(t, initAccount(t, "bob"), bs)
	ctx := context.Background()
	for n := 1; ; n++ {
		if n > 20 {
			t.Fatal("the new device never finished")
		}
		r, evs, dir := newLinkRequest(t, fmt.Sprintf("phone-%d", n), bs, nil)
		s, err := bob.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
		if err != nil {
			t.Fatal(err)
		}
		shown := evs.wait(t, node.LinkEventSAS)
		disarm := store.CrashAtWriteForTest(dir, n)
		_, confirmErr := bob.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: shown.SAS})
		disarm()
		r.Close()
		st, err := node.OpenStore(dir, node.AccountOptions{})
		if err != nil {
			t.Fatal(err)
		}
		has, err := st.HasIdentity()
		if err != nil {
			t.Fatal(err)
		}
		if has {
			id, err := node.LoadIdentity(st, time.Now())
			if err != nil {
				t.Fatalf("crash at write %d: %v", n, err)
			}
			certs, _ := st.DeviceCerts()
			if _, ok := certs[id.DeviceCert.Device]; !ok || len(certs) != 2 {
				t.Fatalf("crash at write %d: the new device holds the identity and %d device certificate(s), own included: %v; want both devices", n, len(certs), ok)
			}
		}
		st.Close()
		if confirmErr == nil {
			t.Logf("linked after %d write transaction(s) on the new device", n-1)
			return
		}
		if has {
			t.Fatalf("crash at write %d: the approver failed (%v) but the new device holds the account", n, confirmErr)
		}
	}
}
