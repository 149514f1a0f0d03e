// Package storetest provides test helpers for code that uses package store.
package storetest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
)

// MustOpen opens a store in a fresh t.TempDir() and fails the test if that
// does not work. Cleanup runs Store.Check (t.Error on a problem) and then
// Close.
//
// o may be nil. MustOpen does not modify o; when o.KDF is zero it uses
// crypto.TestKDFParams instead of the (slow) default, so sealed identities
// stay cheap in tests.
func MustOpen(t testing.TB, o *store.Options) *store.Store {
	t.Helper()
	var opts store.Options
	if o != nil {
		opts = *o
	}
	if opts.KDF == (crypto.KDFParams{}) {
		opts.KDF = crypto.TestKDFParams
	}
	s, err := store.Open(t.TempDir(), &opts)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("storetest: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return s
}

// Account returns a fixed account ID named by name: the same name gives
// the same ID, different names different IDs. It stands for an account in
// tests that need an ID but no keys.
func Account(name string) crypto.AccountID {
	pub := sha256.Sum256([]byte("storetest account " + name))
	return crypto.AccountIDFromPublicKey(pub[:])
}

// Device returns a fixed, valid device ID named by name (the device ID of
// an Ed25519 key derived from name).
func Device(name string) crypto.DeviceID {
	seed := sha256.Sum256([]byte("storetest device " + name))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	return crypto.DeviceIDFromPublicKey(pub)
}
