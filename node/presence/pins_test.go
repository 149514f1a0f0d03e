package presence

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/node/service/servicetest"
	"github.com/parleyhq/parley/store"
)

// restart returns a presence service on env as after a restart of the
// daemon: same store, empty record cache.
func restart(t testing.TB, env service.Env) *Service {
	t.Helper()
	svc, err := New(env, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// accountRecord signs a record of alice's account listing devs and crl.
func accountRecord(t *testing.T, alice service.Env, seq uint64, devs []*pcrypto.DeviceCert, crl *pcrypto.CRL, now time.Time) *records.Account {
	t.Helper()
	raw, err := records.NewAccount(alice.ID.AccountKey(), alice.ID.AccountCert, devs, crl, seq, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := records.ParseAccount(records.AccountKey(alice.ID.AccountCert.ID), raw, now)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestContactRecordRollbackRefusedAfterRestart: once a contact's record
// that revokes a device was taken, an older record that still lists the
// device (genuinely signed, not yet expired) is refused after a restart,
// when the in-memory cache is empty: from a contact's push, whoever sends
// it. Before the durable pins the old record was taken and the revoked
// device was a callee again.
func TestContactRecordRollbackRefusedAfterRestart(t *testing.T) {
	bob := servicetest.NewEnv(t, "bob")
	alice := servicetest.NewEnv(t, "alice")
	acct := alice.ID.AccountCert.ID
	if err := bob.Store.PutContact(store.Contact{AccountID: acct, State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	phoneKey, err := pcrypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	phone, err := pcrypto.IssueDeviceCert(alice.ID.AccountKey(), alice.ID.AccountCert, phoneKey.Public(), "phone", pcrypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	crl, err := pcrypto.CreateCRL(alice.ID.AccountKey(), alice.ID.AccountCert, nil, []*big.Int{phone.Serial()}, now)
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(now.UnixMilli())
	before := accountRecord(t, alice, seq-5000, []*pcrypto.DeviceCert{alice.ID.DeviceCert, phone}, nil, now)
	after := accountRecord(t, alice, seq, []*pcrypto.DeviceCert{alice.ID.DeviceCert}, crl, now)
	// Same sequence as the revoking record (a second record signed with the
	// account key), but a CRL that forgets the phone.
	forgetful := accountRecord(t, alice, seq+1, []*pcrypto.DeviceCert{alice.ID.DeviceCert, phone}, nil, now)

	if err := restart(t, bob).UpdateAccount(acct, after, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rec  *records.Account
	}{{"the record before the revocation", before}, {"a newer record without the CRL", forgetful}} {
		svc := restart(t, bob)
		err := svc.UpdateAccount(acct, tc.rec, now)
		if !errors.Is(err, store.ErrRollback) {
			t.Fatalf("%s after a restart: %v, want a rollback refusal", tc.name, err)
		}
		if rec := svc.CachedAccount(acct, now, time.Hour); rec != nil {
			t.Fatalf("%s was cached (seq %d, %d devices)", tc.name, rec.Seq, len(rec.Devices))
		}
	}
	// The revoking record itself, and a newer one that keeps the CRL, pass.
	svc := restart(t, bob)
	if err := svc.UpdateAccount(acct, after, now); err != nil {
		t.Fatalf("the pinned record itself: %v", err)
	}
	newer := accountRecord(t, alice, seq+2, []*pcrypto.DeviceCert{alice.ID.DeviceCert}, crl, now)
	if err := svc.UpdateAccount(acct, newer, now); err != nil {
		t.Fatalf("a newer record with the same CRL: %v", err)
	}
}

// TestStrangerRecordsNotPinned: a record of an account that is not a
// contact (a stranger's pending request included) is cached but writes no
// pin, so strangers cannot grow the store.
func TestStrangerRecordsNotPinned(t *testing.T) {
	bob := servicetest.NewEnv(t, "bob")
	for i, state := range []store.ContactState{"", store.RequestReceived} {
		stranger := servicetest.NewEnv(t, "stranger")
		acct := stranger.ID.AccountCert.ID
		if state != "" {
			if err := bob.Store.PutContact(store.Contact{AccountID: acct, State: state}); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now()
		rec := accountRecord(t, stranger, uint64(now.UnixMilli())+uint64(i), []*pcrypto.DeviceCert{stranger.ID.DeviceCert}, nil, now)
		svc := restart(t, bob)
		if err := svc.UpdateAccount(acct, rec, now); err != nil {
			t.Fatal(err)
		}
		if svc.CachedAccount(acct, now, time.Hour) == nil {
			t.Fatalf("state %q: record not cached", state)
		}
		if _, ok, err := bob.Store.Pins().Get(acct); ok || err != nil {
			t.Fatalf("state %q: stranger's record pinned (err %v)", state, err)
		}
	}
}

// TestOwnSequenceSurvivesClockSetBack: a device whose clock went back
// across a restart still publishes records newer than its last one (within
// the clock skew validators allow), and says why it cannot when the clock
// went back further.
func TestOwnSequenceSurvivesClockSetBack(t *testing.T) {
	env := servicetest.NewEnv(t, "alice")
	t0 := time.Now()
	env.Now = func() time.Time { return t0 }
	first := restart(t, env)
	raw, err := first.AccountRecord(t0)
	if err != nil {
		t.Fatal(err)
	}
	key := records.AccountKey(env.ID.AccountCert.ID)
	rec1, err := records.ParseAccount(key, raw, t0)
	if err != nil {
		t.Fatal(err)
	}

	// A record is re-signed only when its content changed (or a third of
	// its lifetime is left): link a device each time.
	addDevice := func(name string) {
		t.Helper()
		dk, err := pcrypto.NewDeviceKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := pcrypto.IssueDeviceCert(env.ID.AccountKey(), env.ID.AccountCert, dk.Public(), name, pcrypto.CertOptions{NotBefore: t0.Add(-2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Store.PutDeviceCert(dc.Device, dc.Raw()); err != nil {
			t.Fatal(err)
		}
	}
	addDevice("phone")
	back := t0.Add(-30 * time.Second)
	raw, err = restart(t, env).AccountRecord(back)
	if err != nil {
		t.Fatalf("clock 30 s back: %v", err)
	}
	rec2, err := records.ParseAccount(key, raw, back)
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Seq <= rec1.Seq {
		t.Fatalf("after the clock went back 30 s the record has sequence %d, not above the last one's %d", rec2.Seq, rec1.Seq)
	}

	addDevice("tablet")
	_, err = restart(t, env).AccountRecord(t0.Add(-time.Hour))
	if !errors.Is(err, records.ErrSeqTooFar) || !strings.Contains(err.Error(), "ahead of the clock") {
		t.Fatalf("clock an hour back: %v, want a sequence-ahead-of-clock error", err)
	}
}

// TestRecordCacheBounded: the account-record cache holds at most
// MaxCachedAccounts records; the record fetched longest ago makes room and
// is counted (issue 14 finding 3: the cache was never pruned, 1,000 pushed
// records grew a daemon by 325 MiB).
func TestRecordCacheBounded(t *testing.T) {
	bob := servicetest.NewEnv(t, "bob")
	svc, err := New(bob, Options{MaxCachedAccounts: 3})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var accts []pcrypto.AccountID
	for i := range 5 {
		other := servicetest.NewEnv(t, "other")
		at := now.Add(time.Duration(i) * time.Second)
		rec := accountRecord(t, other, uint64(now.UnixMilli()), []*pcrypto.DeviceCert{other.ID.DeviceCert}, nil, now)
		if err := svc.UpdateAccount(other.ID.AccountCert.ID, rec, at); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, other.ID.AccountCert.ID)
	}
	cached, evicted := svc.CacheStats()
	if cached != 3 || evicted != 2 {
		t.Fatalf("cached %d, evicted %d; want 3 and 2", cached, evicted)
	}
	for i, id := range accts {
		got := svc.CachedAccount(id, now.Add(10*time.Second), time.Hour) != nil
		if want := i >= 2; got != want {
			t.Errorf("account %d cached = %v, want %v (the two fetched first make room)", i, got, want)
		}
	}
}
