package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

func mustKey(t *testing.T, gen uint32) store.PresenceKey {
	t.Helper()
	k, err := store.NewPresenceKey(gen)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ordered returns two keys of generation gen, the first losing the tie to
// the second (smaller SHA-256).
func ordered(t *testing.T, gen uint32) (lo, hi store.PresenceKey) {
	a, b := mustKey(t, gen), mustKey(t, gen)
	ha, hb := sha256.Sum256(a.Key[:]), sha256.Sum256(b.Key[:])
	if bytes.Compare(ha[:], hb[:]) > 0 {
		a, b = b, a
	}
	return a, b
}

func TestPresenceKeyNewer(t *testing.T) {
	lo, hi := ordered(t, 3)
	g4 := mustKey(t, 4)
	for _, tc := range []struct {
		name string
		a, b store.PresenceKey
		want bool
	}{
		{"higher generation", g4, hi, true},
		{"lower generation", hi, g4, false},
		{"tie, larger hash", hi, lo, true},
		{"tie, smaller hash", lo, hi, false},
		{"same key", hi, hi, false},
		{"any key over none", lo, store.PresenceKey{}, true},
	} {
		if got := tc.a.Newer(tc.b); got != tc.want {
			t.Errorf("%s: Newer = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTakePresenceKey: the newest key wins whatever the order offered, and
// it survives a reopen.
func TestTakePresenceKey(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	if _, err := s.PresenceKey(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PresenceKey on a fresh store: %v, want ErrNotFound", err)
	}
	lo, hi := ordered(t, 2)
	for _, step := range []struct {
		k    store.PresenceKey
		took bool
		want store.PresenceKey
	}{
		{lo, true, lo},
		{hi, true, hi},
		{lo, false, hi},
		{mustKey(t, 1), false, hi},
	} {
		took, err := s.TakePresenceKey(step.k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.PresenceKey()
		if err != nil {
			t.Fatal(err)
		}
		if took != step.took || got != step.want {
			t.Fatalf("take gen %d: took %v, holds gen %d; want %v, gen %d", step.k.Gen, took, got.Gen, step.took, step.want.Gen)
		}
	}
	if _, err := s.TakePresenceKey(store.PresenceKey{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("taking generation 0: %v, want ErrInvalid", err)
	}
	s.Close()
	s = mustOpen(t, dir, nil)
	if got, err := s.PresenceKey(); err != nil || got != hi {
		t.Fatalf("after reopen: gen %d, %v; want gen %d", got.Gen, err, hi.Gen)
	}
}

// TestPresenceKeySealed: with a passphrase the key is sealed at rest (not
// in the file in clear), needs the passphrase to be read, and still
// compares without it.
func TestPresenceKeySealed(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, &store.Options{Passphrase: []byte("correct horse")})
	k := mustKey(t, 1)
	if took, err := s.TakePresenceKey(k); err != nil || !took {
		t.Fatalf("take: %v %v", took, err)
	}
	if got, err := s.PresenceKey(); err != nil || got != k {
		t.Fatalf("read back: %v", err)
	}
	s.Close()
	raw, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("read store file: %v (%v)", err, entries)
	}
	if bytes.Contains(raw, k.Key[:]) {
		t.Fatal("the sealed presence key is in the file in clear")
	}
	s = mustOpen(t, dir, nil)
	if _, err := s.PresenceKey(); !errors.Is(err, store.ErrPassphraseRequired) {
		t.Fatalf("without passphrase: %v, want ErrPassphraseRequired", err)
	}
	if took, err := s.TakePresenceKey(k); err != nil || took {
		t.Fatalf("offering the held key again: took %v, %v", took, err)
	}
	s.Close()
	s = mustOpen(t, dir, &store.Options{Passphrase: []byte("wrong")})
	if _, err := s.PresenceKey(); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

// TestContactPresenceKeyNewest: a contact keeps the newest key it was
// given, through puts without one and puts of older ones.
func TestContactPresenceKeyNewest(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	id := acct("bob")
	k1, k2 := mustKey(t, 1), mustKey(t, 2)
	put := func(k store.PresenceKey) {
		t.Helper()
		if err := s.PutContact(store.Contact{AccountID: id, State: store.Accepted, PresenceKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	get := func() store.PresenceKey {
		t.Helper()
		c, err := s.Contact(id)
		if err != nil {
			t.Fatal(err)
		}
		return c.PresenceKey
	}
	put(k1)
	if get() != k1 {
		t.Fatal("key not stored")
	}
	put(store.PresenceKey{})
	if get() != k1 {
		t.Fatal("a put without a key dropped it")
	}
	put(k2)
	put(k1)
	if get() != k2 {
		t.Fatal("an older key replaced a newer one")
	}
}

// TestSyncCarriesContactPresenceKey: a contact's key reaches the account's
// other device by sync, and an entry with an older key does not undo a
// newer one held there.
func TestSyncCarriesContactPresenceKey(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a, b := openAt(t, c), openAt(t, c)
	ds := devicesInOrder(2)
	id := acct("bob")
	for _, s := range []*store.Store{a, b} {
		if _, err := s.SyncState(ds[0], replicated); err != nil {
			t.Fatal(err)
		}
	}
	k1, k2 := mustKey(t, 1), mustKey(t, 2)
	if err := a.PutContact(store.Contact{AccountID: id, State: store.Accepted, PresenceKey: k1}); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(1e9)
	es, err := a.SyncState(ds[0], replicated)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.MergeSync(ds[1], replicated, es); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Contact(id); err != nil || got.PresenceKey != k1 {
		t.Fatalf("synced contact: %v, key gen %d", err, got.PresenceKey.Gen)
	}
	// b learns k2; a renames (a newer version carrying k1).
	if err := b.PutContact(store.Contact{AccountID: id, State: store.Accepted, PresenceKey: k2}); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(1e9)
	if err := a.PutContact(store.Contact{AccountID: id, Name: "Bob", State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(1e9)
	es, err = a.SyncState(ds[0], replicated)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.MergeSync(ds[1], replicated, es); err != nil {
		t.Fatal(err)
	}
	got, err := b.Contact(id)
	if err != nil || got.Name != "Bob" || got.PresenceKey != k2 {
		t.Fatalf("after merge: %v, name %q, key gen %d; want Bob, gen 2", err, got.Name, got.PresenceKey.Gen)
	}
	// And b's newer key goes back to a.
	c.t = c.t.Add(1e9)
	es, err = b.SyncState(ds[1], replicated)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.MergeSync(ds[0], replicated, es); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Contact(id); err != nil || got.PresenceKey != k2 {
		t.Fatalf("back on a: %v, key gen %d", err, got.PresenceKey.Gen)
	}
}
