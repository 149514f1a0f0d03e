package presence

import (
	"errors"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/service/servicetest"
	"github.com/parleyhq/parley/store"
)

// TestOpenPresence: what a resolver makes of alice's version-2 record. A
// stranger (no key) and a contact holding another key ID keep the relay
// addresses only; a contact holding the key gets every address, direct
// first; a record whose key ID names the key held but whose box was
// altered is refused. Alice's own key is used for her own account.
func TestOpenPresence(t *testing.T) {
	aliceEnv := servicetest.NewEnv(t, "alice")
	alice := restart(t, aliceEnv)
	bob := restart(t, servicetest.NewEnv(t, "bob"))
	acct := aliceEnv.ID.AccountCert.ID
	relay := ma.StringCast("/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWHUa6sXk3SyxxmMCRQuHwXZPRGXy52sqDMcbjLHHG4c9K/p2p-circuit")
	direct := ma.StringCast("/ip4/198.51.100.7/udp/4001/quic-v1")
	k := alice.PresenceKey()
	now := time.Now()
	raw, err := records.NewSealedPresence(aliceEnv.ID.DeviceKey, acct, []ma.Multiaddr{relay}, []ma.Multiaddr{direct}, sealKey(k), 1, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	parse := func() *records.Presence {
		p, err := records.ParsePresence(records.PresenceKey(aliceEnv.ID.DeviceCert.Device), raw, now)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	addrsOf := func(svc *Service, p *records.Presence) ([]ma.Multiaddr, error) {
		err := svc.openPresence(p)
		return p.Addrs, err
	}
	same := func(got []ma.Multiaddr, want ...ma.Multiaddr) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if !got[i].Equal(want[i]) {
				return false
			}
		}
		return true
	}

	// A stranger.
	if got, err := addrsOf(bob, parse()); err != nil || !same(got, relay) {
		t.Fatalf("stranger: %v, %v; want the relay address only", got, err)
	}
	// A contact that holds another key (an old generation).
	other, err := store.NewPresenceKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Store.PutContact(store.Contact{AccountID: acct, State: store.Accepted, PresenceKey: other}); err != nil {
		t.Fatal(err)
	}
	if got, err := addrsOf(bob, parse()); err != nil || !same(got, relay) {
		t.Fatalf("unknown key ID: %v, %v; want the relay address only", got, err)
	}
	// The contact takes alice's key.
	k.Gen = 2 // a newer generation of the same bytes, to pass the store's newest-wins rule
	if err := bob.Store.PutContact(store.Contact{AccountID: acct, State: store.Accepted, PresenceKey: k}); err != nil {
		t.Fatal(err)
	}
	if got, err := addrsOf(bob, parse()); err != nil || !same(got, direct, relay) {
		t.Fatalf("contact with the key: %v, %v; want the direct address, then the relay's", got, err)
	}
	if got, err := addrsOf(alice, parse()); err != nil || !same(got, direct, relay) {
		t.Fatalf("own account: %v, %v", got, err)
	}
	// A tampered box under the key ID the contact holds.
	p := parse()
	p.Sealed = append([]byte(nil), p.Sealed...)
	p.Sealed[len(p.Sealed)-1] ^= 1
	if _, err := addrsOf(bob, p); !errors.Is(err, records.ErrSealedOpen) {
		t.Fatalf("tampered box: %v, want ErrSealedOpen", err)
	}
}

// TestRotateAndTakePresenceKey: rotating draws generation+1 and stores
// it; a key from another device is taken only when newer, and survives a
// restart of the service.
func TestRotateAndTakePresenceKey(t *testing.T) {
	env := servicetest.NewEnv(t, "alice")
	svc := restart(t, env)
	k1 := svc.PresenceKey()
	if k1.Gen != 1 {
		t.Fatalf("first key: generation %d, want 1", k1.Gen)
	}
	k2, err := svc.RotatePresenceKey()
	if err != nil {
		t.Fatal(err)
	}
	if k2.Gen != 2 || k2.Key == k1.Key || svc.PresenceKey() != k2 {
		t.Fatalf("rotated: generation %d", k2.Gen)
	}
	if took, err := svc.TakePresenceKey(k1); err != nil || took {
		t.Fatalf("taking an older key: %v, %v", took, err)
	}
	k3, err := store.NewPresenceKey(3)
	if err != nil {
		t.Fatal(err)
	}
	if took, err := svc.TakePresenceKey(k3); err != nil || !took {
		t.Fatalf("taking a newer key: %v, %v", took, err)
	}
	if got := restart(t, env).PresenceKey(); got != k3 {
		t.Fatalf("after a restart: generation %d, want 3", got.Gen)
	}
}

// BenchmarkResolvePresenceRecord: what a contact's lookup pays per device
// record on top of the DHT walk: parsing a version-1 record, against
// parsing a version-2 one and opening it with the key read from the
// store (openPresence).
func BenchmarkResolvePresenceRecord(b *testing.B) {
	aliceEnv := servicetest.NewEnv(b, "alice")
	alice := restart(b, aliceEnv)
	bob := restart(b, servicetest.NewEnv(b, "bob"))
	acct := aliceEnv.ID.AccountCert.ID
	relay := ma.StringCast("/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWHUa6sXk3SyxxmMCRQuHwXZPRGXy52sqDMcbjLHHG4c9K/p2p-circuit")
	direct := []ma.Multiaddr{ma.StringCast("/ip4/198.51.100.7/udp/4001/quic-v1"), ma.StringCast("/ip4/198.51.100.7/tcp/4001")}
	if err := bob.Store.PutContact(store.Contact{AccountID: acct, State: store.Accepted, PresenceKey: alice.PresenceKey()}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	key := records.PresenceKey(aliceEnv.ID.DeviceCert.Device)
	v1, err := records.NewPresence(aliceEnv.ID.DeviceKey, acct, append(direct, relay), 1, time.Hour, now)
	if err != nil {
		b.Fatal(err)
	}
	v2, err := records.NewSealedPresence(aliceEnv.ID.DeviceKey, acct, []ma.Multiaddr{relay}, direct, sealKey(alice.PresenceKey()), 1, time.Hour, now)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("v1", func(b *testing.B) {
		for b.Loop() {
			if _, err := records.ParsePresence(key, v1, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v2+open", func(b *testing.B) {
		for b.Loop() {
			p, err := records.ParsePresence(key, v2, now)
			if err != nil {
				b.Fatal(err)
			}
			if err := bob.openPresence(p); err != nil || len(p.Addrs) != 3 {
				b.Fatal(err, p.Addrs)
			}
		}
	})
}
