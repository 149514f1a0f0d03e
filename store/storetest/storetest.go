// Package storetest provides test helpers for code that uses package store.
package storetest

import (
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
