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

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node"
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
	net := testnet.ForTest(t, testnet.Options{Dir: t.TempDir()})
	if _, err := net.StartBootstraps(1, testnetNoTURN); err != nil {
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
	// Alice learns the revocation (pushed to contacts).
	if err := wait.For(ctx, 30*time.Second, func() error {
		if l, err := alice.Lookup(ctx, laptop.Account); err != nil || len(l.Devices) != 1 {
			return errors.New("alice still sees the phone")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pinBefore, _, _ := alice.Store().Pins().Get(laptop.Account)
	v := records.Validator(time.Now)

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
