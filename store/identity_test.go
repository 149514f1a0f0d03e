package store_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

func testIdentity(t *testing.T) store.Identity {
	t.Helper()
	return store.Identity{
		AccountKeySeed: randBytes(t, 32),
		AccountCert:    []byte("account-cert-der"),
		DeviceKeySeed:  randBytes(t, 32),
		DeviceCert:     []byte("device-cert-der"),
		DeviceName:     "laptop",
		Created:        time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC),
	}
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func equalIdentity(a, b store.Identity) bool {
	return bytes.Equal(a.AccountKeySeed, b.AccountKeySeed) &&
		bytes.Equal(a.AccountCert, b.AccountCert) &&
		bytes.Equal(a.DeviceKeySeed, b.DeviceKeySeed) &&
		bytes.Equal(a.DeviceCert, b.DeviceCert) &&
		a.DeviceName == b.DeviceName &&
		a.Created.Equal(b.Created)
}

// fileContainsSeeds reports whether the raw database file holds either seed
// in binary, base64 or hex form.
func fileContainsSeeds(t *testing.T, path string, id store.Identity) bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range [][]byte{id.AccountKeySeed, id.DeviceKeySeed} {
		// Base64 of a slice depends on alignment; the first 30 bytes of a
		// seed at offset 0 or 32 in the 64-byte blob encode identically.
		forms := [][]byte{
			seed,
			[]byte(base64.StdEncoding.EncodeToString(seed[:30])),
		}
		for _, f := range forms {
			if bytes.Contains(raw, f) {
				return true
			}
		}
	}
	return false
}

func TestNoIdentity(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	if ok, err := s.HasIdentity(); err != nil || ok {
		t.Errorf("HasIdentity = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.Identity(); !errors.Is(err, store.ErrNoIdentity) {
		t.Errorf("Identity error = %v, want ErrNoIdentity", err)
	}
	if _, err := s.KeysSealed(); !errors.Is(err, store.ErrNoIdentity) {
		t.Errorf("KeysSealed error = %v, want ErrNoIdentity", err)
	}
}

func TestIdentityPlainRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	id := testIdentity(t)
	if err := s.CreateIdentity(id); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.HasIdentity(); err != nil || !ok {
		t.Fatalf("HasIdentity = %v, %v; want true, nil", ok, err)
	}
	if sealed, err := s.KeysSealed(); err != nil || sealed {
		t.Fatalf("KeysSealed = %v, %v; want false, nil", sealed, err)
	}
	got, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !equalIdentity(got, id) {
		t.Fatalf("Identity() = %+v, want %+v", got, id)
	}
	// The returned slices belong to the caller.
	got.AccountKeySeed[0] ^= 0xff
	got.DeviceCert[0] ^= 0xff
	again, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !equalIdentity(again, id) {
		t.Fatal("modifying a returned Identity changed the stored one")
	}

	// Survives reopen; a passphrase given later does not matter for plain keys.
	s.Close()
	s = mustOpen(t, dir, &store.Options{Passphrase: []byte("late")})
	got, err = s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !equalIdentity(got, id) {
		t.Fatal("identity changed across reopen")
	}
}

func TestIdentityNeverOverwritten(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	first := testIdentity(t)
	if err := s.CreateIdentity(first); err != nil {
		t.Fatal(err)
	}
	second := testIdentity(t)
	if err := s.CreateIdentity(second); !errors.Is(err, store.ErrIdentityExists) {
		t.Fatalf("second CreateIdentity error = %v, want ErrIdentityExists", err)
	}
	got, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !equalIdentity(got, first) {
		t.Fatal("second CreateIdentity replaced the first identity")
	}
}

func TestIdentityCreatedDefaultsToNow(t *testing.T) {
	clock := &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))}
	s := storetest.MustOpen(t, &store.Options{Now: clock.Now})
	id := testIdentity(t)
	id.Created = time.Time{}
	if err := s.CreateIdentity(id); err != nil {
		t.Fatal(err)
	}
	got, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(clock.t) {
		t.Fatalf("Created = %v, want %v", got.Created, clock.t)
	}
}

func TestIdentitySealed(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("correct horse battery staple")
	o := &store.Options{Passphrase: bytes.Clone(pass)}
	s := mustOpen(t, dir, o)
	clear(o.Passphrase) // Open must have copied it.
	id := testIdentity(t)
	if err := s.CreateIdentity(id); err != nil {
		t.Fatal(err)
	}
	if sealed, err := s.KeysSealed(); err != nil || !sealed {
		t.Fatalf("KeysSealed = %v, %v; want true, nil", sealed, err)
	}
	got, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !equalIdentity(got, id) {
		t.Fatal("sealed identity round trip differs")
	}
	s.Close()
	if fileContainsSeeds(t, s.Path(), id) {
		t.Fatal("a key seed is in the database file in clear although a passphrase was set")
	}

	tests := []struct {
		name    string
		pass    []byte
		wantErr error
	}{
		{"right passphrase", pass, nil},
		{"wrong passphrase", []byte("Tr0ub4dor&3"), crypto.ErrWrongPassphrase},
		{"no passphrase", nil, store.ErrPassphraseRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpen(t, dir, &store.Options{Passphrase: tt.pass})
			defer s.Close()
			// Metadata is readable without unsealing.
			if ok, err := s.HasIdentity(); err != nil || !ok {
				t.Fatalf("HasIdentity = %v, %v", ok, err)
			}
			if sealed, err := s.KeysSealed(); err != nil || !sealed {
				t.Fatalf("KeysSealed = %v, %v", sealed, err)
			}
			got, err := s.Identity()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Identity error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got.AccountKeySeed != nil || got.DeviceKeySeed != nil {
					t.Error("seeds returned together with an error")
				}
				if strings.Contains(err.Error(), string(pass)) {
					t.Error("error message contains the passphrase")
				}
				return
			}
			if !equalIdentity(got, id) {
				t.Fatal("identity differs")
			}
		})
	}
}

func TestPlainIdentityIsInFile(t *testing.T) {
	// The control for TestIdentitySealed's scan: without a passphrase the
	// seeds are in the file, so the scan would find them.
	s := storetest.MustOpen(t, nil)
	id := testIdentity(t)
	if err := s.CreateIdentity(id); err != nil {
		t.Fatal(err)
	}
	if !fileContainsSeeds(t, s.Path(), id) {
		t.Fatal("seed scan does not find plain seeds; the sealed test proves nothing")
	}
}

func TestCreateIdentityInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*store.Identity)
	}{
		{"short account seed", func(id *store.Identity) { id.AccountKeySeed = id.AccountKeySeed[:31] }},
		{"long device seed", func(id *store.Identity) { id.DeviceKeySeed = append(id.DeviceKeySeed, 0) }},
		{"long account seed", func(id *store.Identity) { id.AccountKeySeed = append(id.AccountKeySeed, 0) }},
		{"no account cert", func(id *store.Identity) { id.AccountCert = nil }},
		{"no device cert", func(id *store.Identity) { id.DeviceCert = nil }},
		{"huge cert", func(id *store.Identity) { id.DeviceCert = make([]byte, 64<<10+1) }},
		{"long device name", func(id *store.Identity) { id.DeviceName = strings.Repeat("x", 129) }},
		{"device name not UTF-8", func(id *store.Identity) { id.DeviceName = "\xff" }},
	}
	s := storetest.MustOpen(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := testIdentity(t)
			tt.modify(&id)
			if err := s.CreateIdentity(id); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("CreateIdentity error = %v, want ErrInvalid", err)
			}
		})
	}
	if ok, _ := s.HasIdentity(); ok {
		t.Fatal("an invalid identity was stored")
	}
}

func TestIdentityCorruptRecord(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"not JSON", "{garbage"},
		{"empty", ""},
		{"null", "null"},
		{"wrong version", `{"v":2,"keys":"AAAA"}`},
		{"wrong type", `{"v":"1"}`},
		{"plain keys wrong length", `{"v":1,"sealed":false,"keys":"AAAA"}`},
		{"sealed keys not a sealed blob", `{"v":1,"sealed":true,"keys":"AAAA"}`},
		{"keys not base64", `{"v":1,"keys":"!!"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.MustOpen(t, &store.Options{Passphrase: []byte("pw")})
			if err := s.PutRawForTest("identity", "identity", []byte(tt.raw)); err != nil {
				t.Fatal(err)
			}
			_, err := s.Identity()
			if err == nil {
				t.Fatal("Identity of a corrupt record succeeded")
			}
			if !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, crypto.ErrCorrupt) {
				t.Fatalf("Identity error = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestPublicIdentityNeedsNoPassphrase(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, &store.Options{Passphrase: []byte("pw"), KDF: crypto.TestKDFParams})
	id := testIdentity(t)
	if err := s.CreateIdentity(id); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, dir, nil)
	defer s.Close()
	if _, err := s.Identity(); !errors.Is(err, store.ErrPassphraseRequired) {
		t.Fatalf("Identity without passphrase: %v", err)
	}
	pub, err := s.PublicIdentity()
	if err != nil || !pub.Sealed || !bytes.Equal(pub.AccountCert, id.AccountCert) || pub.DeviceName != id.DeviceName {
		t.Fatalf("PublicIdentity = %+v, %v", pub, err)
	}
}
