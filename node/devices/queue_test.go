package devices

import (
	"context"
	"slices"
	"strings"
	"testing"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/node/service/servicetest"
	"github.com/parleyhq/parley/store"
)

// newService builds the devices service on env, as at a daemon start.
func newService(t *testing.T, env service.Env) *Service {
	t.Helper()
	pres, err := presence.New(env, presence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := contacts.New(env, pres, contacts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(env, pres, cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestRevocationNoticesSurviveRestart: a revocation stores, in the same
// transaction as the CRL, the record pushes to every accepted contact and
// the notice to the revoked device; both are still due after a restart
// and leave the queue only once delivered (issue 14 finding 7: the queue
// lived in memory, and the notice was dropped after one failed attempt).
func TestRevocationNoticesSurviveRestart(t *testing.T) {
	env := servicetest.NewEnv(t, "alice")
	phoneKey, err := pcrypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	phone, err := pcrypto.IssueDeviceCert(env.ID.AccountKey(), env.ID.AccountCert, phoneKey.Public(), "phone", pcrypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.PutDeviceCert(phone.Device, phone.Raw()); err != nil {
		t.Fatal(err)
	}
	bob, carol, dave := servicetest.NewEnv(t, "bob"), servicetest.NewEnv(t, "carol"), servicetest.NewEnv(t, "dave")
	for _, c := range []struct {
		env   service.Env
		state store.ContactState
	}{{bob, store.Accepted}, {carol, store.Accepted}, {dave, store.RequestReceived}} {
		if err := env.Store.PutContact(store.Contact{AccountID: c.env.ID.AccountCert.ID, State: c.state}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := newService(t, env).RevokeDevice(context.Background(), phone.Device.String()); err != nil {
		t.Fatal(err)
	}

	// A restart: a new service on the same store; nothing was delivered
	// (no network).
	svc := newService(t, env)
	want := []pcrypto.AccountID{bob.ID.AccountCert.ID, carol.ID.AccountCert.ID}
	got := svc.pushTargets()
	slices.SortFunc(got, func(a, b pcrypto.AccountID) int { return strings.Compare(a.String(), b.String()) })
	slices.SortFunc(want, func(a, b pcrypto.AccountID) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(got, want) {
		t.Fatalf("record pushes due after the restart: %v, want the two accepted contacts %v", got, want)
	}
	if tells := svc.tellTargets(); !slices.Equal(tells, []pcrypto.DeviceID{phone.Device}) {
		t.Fatalf("revocation notices due after the restart: %v, want the phone", tells)
	}
	// A sync round that reaches nobody keeps them.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	svc.syncRound(ctx)
	if len(svc.pushTargets()) != 2 || len(svc.tellTargets()) != 1 {
		t.Fatalf("a failed round dropped queued notices: pushes %v, tells %v", svc.pushTargets(), svc.tellTargets())
	}
	// A contact that is no longer accepted is dropped from the queue.
	if err := env.Store.DeleteContact(carol.ID.AccountCert.ID); err != nil {
		t.Fatal(err)
	}
	if got := svc.pushTargets(); !slices.Equal(got, []pcrypto.AccountID{bob.ID.AccountCert.ID}) {
		t.Fatalf("after carol was removed: %v, want only bob", got)
	}
}
