package adversary

// The revoked-device attack suite (docs/identity.md, "What a revoked device
// can still do"): a member device of bob's account is revoked, keeps every
// key and record it ever had, and tries to act for the account against
// real nodes (in-process, real libp2p hosts, DHT and bbolt stores). Every
// attempt must be refused with its reason, and no honest device changes
// state. Plus: a leaked link code approved from another account.

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/internal/turncred"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/test/testnet"
	"github.com/parleyhq/parley/test/wait"
)

// link links a new device to approver's account and returns its data dir.
func link(t *testing.T, net *testnet.Network, approver *testnet.Node, name string, admin bool) string {
	t.Helper()
	ctx := t.Context()
	sas := make(chan string, 1)
	dir := filepath.Join(t.TempDir(), name)
	r, err := node.NewLinkRequest(dir, node.LinkOptions{
		AccountOptions: node.AccountOptions{DeviceName: name, KDF: pcrypto.TestKDFParams},
		Bootstraps:     net.BootstrapAddrs(), ListenAddrs: testnet.Loopback,
		ExpectAccount: approver.Account, AutoConfirm: true,
		OnEvent: func(ev node.LinkEvent) {
			if ev.Type == node.LinkEventSAS {
				sas <- ev.SAS
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := approver.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code(), Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := approver.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: <-sas}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRevokedMember(t *testing.T) {
	t.Parallel()
	net := testnet.ForTest(t, testnet.Options{Dir: t.TempDir()})
	bs, err := net.StartBootstraps(1, testnet.TURNLoopback)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := peer.AddrInfoFromString(bs[0].Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	laptop, err := net.AddNode("bob-laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := net.AddNode("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := testnet.WaitPublished(ctx, laptop, alice); err != nil {
		t.Fatal(err)
	}
	if err := testnet.Befriend(ctx, alice, laptop); err != nil {
		t.Fatal(err)
	}
	phone, err := net.StartNode(link(t, net, laptop, "bob-phone", false), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := phone.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	if phone.Keys().IsAdmin() {
		t.Fatal("a linked device is an admin by default")
	}
	// Before its revocation, as a member, it cannot link or revoke either;
	// the error names the admin device.
	if _, err := phone.ApproveLink(ctx, apitype.LinkApprove{Code: someCode(t, net)}); !errors.Is(err, node.ErrNotAdmin) || !strings.Contains(err.Error(), "bob-laptop") {
		t.Fatalf("a member approving a link: %v", err)
	}
	// What the phone keeps: its device key and certificate and the newest
	// admin-signed account record, from before the revocation.
	oldRecord, _, ok, err := phone.Store().OwnRecord()
	if err != nil || !ok {
		t.Fatalf("the member holds no account record: %v", err)
	}
	phoneID := phone.Keys().DeviceCert.Device
	if _, err := laptop.RevokeDevice(ctx, phoneID.String()); err != nil {
		t.Fatal(err)
	}
	key := records.AccountKey(laptop.Account)
	// Alice learns the revocation (pushed to contacts) and pins it. (A
	// lookup listing one device is not enough: the record from before
	// the phone was linked lists one too.)
	if err := wait.For(ctx, 30*time.Second, func() error {
		if p, ok, err := alice.Store().Pins().Get(laptop.Account); err != nil || !ok || p.CRLNumber < 1 {
			return errors.New("alice has not pinned the CRL")
		}
		if l, err := alice.Lookup(ctx, laptop.Account); err != nil || len(l.Devices) != 1 {
			return errors.New("alice still sees the phone")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pinBefore, _, _ := alice.Store().Pins().Get(laptop.Account)
	v := records.Validator(time.Now)
	// The revoked phone as an attacker's client: its keys and certificates,
	// its own host (so its peer ID is its device ID).
	attacker := &Device{Account: &Account{Cert: phone.Keys().AccountCert}, Key: phone.Keys().DeviceKey, Cert: phone.Keys().DeviceCert}
	alicePeer := alice.Host().ID()
	// The account record with the CRL must be in the DHT (the bootstrap
	// holds it) before the DHT-side attacks mean anything.
	if err := wait.For(ctx, 30*time.Second, func() error {
		raw, err := GetValue(ctx, phone.Host(), boot.ID, key)
		if err != nil {
			return err
		}
		rec, err := records.ParseAccount(key, raw, time.Now())
		if err != nil {
			return err
		}
		if rec.CRL == nil || !rec.CRL.IsRevoked(phone.Keys().DeviceCert.Serial()) {
			return errors.New("the bootstrap's record does not revoke the phone yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("publish account record signed with the device key", func(t *testing.T) {
		// A member has no account key: the best it can sign with is its
		// device key, at any sequence, 2^64-1 included.
		for _, seq := range []uint64{uint64(time.Now().UnixMilli()), math.MaxUint64} {
			rec := forgeAccountRecord(t, phone, seq)
			err := v.Validate(key, rec)
			if !errors.Is(err, records.ErrWrongSigner) {
				t.Fatalf("seq %d: validator says %v, want %v", seq, err, records.ErrWrongSigner)
			}
			t.Logf("refused: %v", err)
		}
	})
	t.Run("approve a link", func(t *testing.T) {
		_, err := phone.ApproveLink(ctx, apitype.LinkApprove{Code: someCode(t, net)})
		if !errors.Is(err, node.ErrNotAdmin) && !errors.Is(err, node.ErrDeviceRevoked) {
			t.Fatalf("err = %v", err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("revoke the laptop", func(t *testing.T) {
		_, err := phone.RevokeDevice(ctx, laptop.Keys().DeviceCert.Device.String())
		if err == nil {
			t.Fatal("the revoked member revoked the laptop")
		}
		t.Logf("refused: %v", err)
	})
	t.Run("re-present the old account record", func(t *testing.T) {
		// The record from before the revocation still verifies and has
		// not expired; a node that pinned the newer one refuses it.
		old, err := records.ParseAccount(key, oldRecord, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		err = alice.Store().Pins().Raise(laptop.Account, storePin(old), true)
		if err == nil {
			t.Fatal("alice took the record from before the revocation")
		}
		t.Logf("refused: %v", err)
	})
	t.Run("sync into the laptop", func(t *testing.T) {
		// The laptop refuses the revoked phone's sync (code "revoked"), so
		// its contacts and settings do not change.
		ds, err := laptop.Devices()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.DeviceID == phoneID.String() && !d.Revoked {
				t.Fatal("the laptop lists the phone as active")
			}
		}
		if err := phone.Store().SetSetting(string(service.SettingAllowNonContacts), "evil"); err != nil {
			t.Fatal(err)
		}
		phone.KickSync()
		if err := wait.For(ctx, 3*time.Second, func() error {
			if v, ok, _ := laptop.Store().Setting(string(service.SettingAllowNonContacts)); ok && v == "evil" {
				return nil
			}
			return errors.New("not synced")
		}); err == nil {
			t.Fatal("the revoked phone's setting reached the laptop")
		}
	})
	t.Run("call a contact", func(t *testing.T) {
		// The phone's own node places the call, and a raw offer signed with
		// its device key goes straight to alice's device: both refused.
		c, err := phone.StartCall(ctx, apitype.CallRequest{AccountID: alice.Account.String(), Audio: "none"})
		if err == nil {
			ended, werr := phone.WaitCall(ctx, c.ID, wait.CallIs("ended"))
			if werr != nil {
				t.Fatalf("the revoked phone's call to alice: %v", werr)
			}
			t.Logf("the phone's node: call ended: %s", ended.Reason)
		} else {
			t.Logf("the phone's node: refused: %v", err)
		}
		offer, err := attacker.Offer(alice.Account)
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := SendOffer(ctx, phone.Host(), alicePeer, offer)
		if err != nil {
			t.Fatal(err)
		}
		if ctl.Type != callproto.ControlError || ctl.Code != callproto.CodeRevoked {
			t.Fatalf("alice answered the revoked phone's offer with %v code %v (%q), want an error revoked", ctl.Type, ctl.Code, ctl.Reason)
		}
		t.Logf("refused by alice: code %v: %s", ctl.Code, ctl.Reason)
		if cs := alice.Calls(); len(cs) != 0 {
			t.Fatalf("alice has calls: %+v", cs)
		}
	})
	t.Run("publish a presence record", func(t *testing.T) {
		// The phone's presence record, signed by its device key, is taken
		// by the DHT (anyone may publish one), but readers resolving bob's
		// account do not list or ring the phone.
		// With the phone's real addresses, so that a reader could ring it.
		now := time.Now()
		pv, err := records.NewPresence(phone.Keys().DeviceKey, laptop.Account, phone.Host().Addrs(), nextSeq(now), time.Hour, now)
		pk := records.PresenceKey(phoneID)
		if err != nil {
			t.Fatal(err)
		}
		if err := PutValue(ctx, phone.Host(), boot.ID, pk, pv); err != nil {
			t.Fatalf("the DHT refused a presence record: %v", err)
		}
		l, err := alice.Lookup(ctx, laptop.Account)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range l.Devices {
			if d.DeviceID == phoneID.String() {
				t.Fatalf("alice's lookup lists the revoked phone: %+v", d)
			}
		}
		c, err := alice.StartCall(ctx, apitype.CallRequest{AccountID: laptop.Account.String(), Audio: "none"})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = alice.HangUp(apitype.CallAction{CallID: c.ID}) }()
		if err := wait.For(ctx, 30*time.Second, func() error {
			for _, lc := range laptop.Calls() {
				if lc.Direction == "incoming" && lc.Peer == alice.Account.String() {
					return nil
				}
			}
			return errors.New("the laptop does not ring")
		}); err != nil {
			t.Fatal(err)
		}
		if err := wait.For(ctx, 3*time.Second, func() error {
			for _, pc := range phone.Calls() {
				if pc.Direction == "incoming" {
					return nil
				}
			}
			return errors.New("the phone does not ring")
		}); err == nil {
			t.Fatalf("alice's call rang the revoked phone: %+v", phone.Calls())
		}
		t.Logf("alice's lookup lists %d device(s); her call rang the laptop only", len(l.Devices))
	})
	t.Run("link a new device", func(t *testing.T) {
		// A device waiting to join bob's account (the attacker's, say):
		// the phone cannot approve it, and nothing is linked.
		dir := filepath.Join(t.TempDir(), "rogue")
		r, err := node.NewLinkRequest(dir, node.LinkOptions{
			AccountOptions: node.AccountOptions{DeviceName: "rogue", KDF: pcrypto.TestKDFParams},
			Bootstraps:     net.BootstrapAddrs(), ListenAddrs: testnet.Loopback,
			ExpectAccount: laptop.Account, AutoConfirm: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = phone.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code(), Admin: true})
		if !errors.Is(err, node.ErrNotAdmin) && !errors.Is(err, node.ErrDeviceRevoked) {
			t.Fatalf("err = %v", err)
		}
		t.Logf("refused: %v", err)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		st, err := node.OpenStore(dir, node.AccountOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if has, _ := st.HasIdentity(); has {
			t.Fatal("the rogue device stored an identity")
		}
		ds, err := laptop.Devices()
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 { // the laptop and the revoked phone
			t.Fatalf("the laptop lists %d devices: %+v", len(ds), ds)
		}
	})
	t.Run("fetch TURN credentials", func(t *testing.T) {
		// The bootstrap's credential issuer finds the CRL in the DHT.
		if _, err := turncred.Request(ctx, laptop.Host(), boot.ID, laptop.Keys().AccountCert.Raw(), laptop.Keys().DeviceCert.Raw()); err != nil {
			t.Fatalf("the laptop got no credentials: %v", err)
		}
		c, err := turncred.Request(ctx, phone.Host(), boot.ID, phone.Keys().AccountCert.Raw(), phone.Keys().DeviceCert.Raw())
		if !errors.Is(err, turncred.ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("the revoked phone got %+v, %v; want unauthorized: revoked", c, err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("re-present the old account record through contacts update", func(t *testing.T) {
		// As the phone's own node would push it (contacts "update"), to
		// alice's device: refused, and alice keeps the newer record.
		msg, err := attacker.ContactMessage("update", alice.Account, "", "", oldRecord)
		if err != nil {
			t.Fatal(err)
		}
		err = SendContact(ctx, phone.Host(), alicePeer, msg)
		var ref *Refusal
		if !errors.As(err, &ref) {
			t.Fatalf("alice took the old record: %v", err)
		}
		t.Logf("refused by alice: %v", err)
		rec := alice.CachedAccount(laptop.Account, time.Now(), time.Hour)
		if rec == nil || rec.CRL == nil || !rec.CRL.IsRevoked(phone.Keys().DeviceCert.Serial()) {
			t.Fatal("alice's record of bob no longer revokes the phone")
		}
	})
	t.Run("put an account record with sequence 2^64-1 into the DHT", func(t *testing.T) {
		honest, err := GetValue(ctx, phone.Host(), boot.ID, key)
		if err != nil || honest == nil {
			t.Fatalf("no honest record: %v", err)
		}
		rogue := forgeAccountRecord(t, phone, math.MaxUint64)
		if err := PutValue(ctx, phone.Host(), boot.ID, key, rogue); err == nil {
			t.Fatal("the bootstrap stored the rogue record")
		}
		t.Logf("refused by the bootstrap (validator: %v)", v.Validate(key, rogue))
		got, err := GetValue(ctx, laptop.Host(), boot.ID, key)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(honest) {
			t.Fatal("the bootstrap's record changed")
		}
		l, err := alice.Lookup(ctx, laptop.Account)
		if err != nil || len(l.Devices) != 1 {
			t.Fatalf("alice resolves %+v, %v; want the honest record with the laptop", l, err)
		}
	})
	// No honest state changed: alice's pin is what it was, and the DHT's
	// record (as alice resolves it) does not list the phone.
	pinAfter, _, _ := alice.Store().Pins().Get(laptop.Account)
	if pinAfter.Seq < pinBefore.Seq || pinAfter.CRLNumber < pinBefore.CRLNumber {
		t.Fatalf("alice's pin went back: %+v -> %+v", pinBefore, pinAfter)
	}
	l, err := alice.Lookup(ctx, laptop.Account)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range l.Devices {
		if d.DeviceID == phoneID.String() {
			t.Fatal("the account record lists the revoked phone")
		}
	}
}

// TestLeakedLinkCode: mallory saw bob's new device's link code and approves
// it from her own account; the new device, told which account it joins,
// refuses, stores nothing, and mallory's account does not get it.
func TestLeakedLinkCode(t *testing.T) {
	net := testnet.ForTest(t, testnet.Options{Dir: t.TempDir()})
	if _, err := net.StartBootstraps(1, testnetNoTURN); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	bob, err := net.AddNode("bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := net.AddNode("mallory", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bob-phone")
	failed := make(chan error, 4)
	r, err := node.NewLinkRequest(dir, node.LinkOptions{
		AccountOptions: node.AccountOptions{DeviceName: "bob-phone", KDF: pcrypto.TestKDFParams},
		Bootstraps:     net.BootstrapAddrs(), ListenAddrs: testnet.Loopback,
		ExpectAccount: bob.Account, AutoConfirm: true,
		OnEvent: func(ev node.LinkEvent) {
			if ev.Type == node.LinkEventFailed {
				failed <- ev.Err
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := mallory.ApproveLink(ctx, apitype.LinkApprove{Code: r.Code()})
	if err == nil {
		_, err = mallory.ConfirmLink(ctx, apitype.LinkConfirm{Session: s.Session, SAS: s.SAS})
	}
	if err == nil {
		t.Fatal("mallory linked bob's new device")
	}
	select {
	case ferr := <-failed:
		if !errors.Is(ferr, node.ErrLinkWrongAccount) {
			t.Fatalf("the new device failed the attempt with %v", ferr)
		}
		t.Logf("refused on the new device: %v", ferr)
	case <-time.After(10 * time.Second):
		t.Fatal("the new device reported no failed attempt")
	}
	ds, err := mallory.Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("mallory's account has %d devices", len(ds))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := node.OpenStore(dir, node.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if has, _ := st.HasIdentity(); has {
		t.Fatal("the new device stored an identity")
	}
}
