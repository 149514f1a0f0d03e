package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// TestMemberIdentity: a member's identity has no account key, plain or
// sealed, and promoting it stores the key (sealed again when sealed).
func TestMemberIdentity(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		dir := t.TempDir()
		var o *store.Options
		if sealed {
			o = withTestKDF(&store.Options{Passphrase: []byte("pw")})
		}
		s := mustOpen(t, dir, o)
		id := testIdentity(t)
		account := id.AccountKeySeed
		id.AccountKeySeed = nil
		if err := s.CreateIdentity(id); err != nil {
			t.Fatal(err)
		}
		got, err := s.Identity()
		if err != nil {
			t.Fatal(err)
		}
		if got.IsAdmin() || !equalIdentity(got, id) {
			t.Fatalf("sealed=%v: member identity read back as admin=%v", sealed, got.IsAdmin())
		}
		if pub, _ := s.PublicIdentity(); pub.Admin {
			t.Fatal("public identity says admin")
		}
		if err := s.PromoteIdentity(account); err != nil {
			t.Fatal(err)
		}
		if err := s.PromoteIdentity(account); !errors.Is(err, store.ErrAlreadyAdmin) {
			t.Fatalf("second promote: err = %v", err)
		}
		got, err = s.Identity()
		if err != nil {
			t.Fatal(err)
		}
		id.AccountKeySeed = account
		if !got.IsAdmin() || !equalIdentity(got, id) {
			t.Fatalf("sealed=%v: promoted identity differs", sealed)
		}
		if ks, _ := s.KeysSealed(); ks != sealed {
			t.Fatalf("keys sealed = %v after promote, want %v", ks, sealed)
		}
		if !sealed && !fileContainsSeeds(t, s.Path(), id) {
			t.Fatal("plain promoted keys not in the file")
		}
		if sealed && fileContainsSeeds(t, s.Path(), id) {
			t.Fatal("sealed promoted keys readable in the file")
		}
	}
}

// TestMigrateV7IdentityIsAdmin: an identity written by schema 6 (record
// version 1) reads back as an admin with both keys, sealed ones included.
func TestMigrateV7IdentityIsAdmin(t *testing.T) {
	dir := t.TempDir()
	o := withTestKDF(&store.Options{Passphrase: []byte("pw")})
	old, err := store.OpenAtSchemaForTest(dir, o, 6)
	if err != nil {
		t.Fatal(err)
	}
	id := testIdentity(t)
	if err := old.CreateIdentity(id); err != nil {
		t.Fatal(err)
	}
	// Write it as version 1 did: the same record without "admin".
	var rec map[string]any
	if err := json.Unmarshal(old.GetRawForTest("identity", "identity"), &rec); err != nil {
		t.Fatal(err)
	}
	rec["v"] = 1
	delete(rec, "admin")
	raw, _ := json.Marshal(rec)
	if err := old.PutRawForTest("identity", "identity", raw); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s := mustOpen(t, dir, o)
	got, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsAdmin() || !equalIdentity(got, id) {
		t.Fatal("migrated identity is not the admin identity written")
	}
	if !s.HasBucketForTest("ownrecord") {
		t.Fatal("no ownrecord bucket")
	}
}

func TestOwnRecordKeepsNewest(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	if _, _, ok, err := s.OwnRecord(); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	for _, c := range []struct {
		raw    string
		seq    uint64
		stored bool
	}{{"a", 5, true}, {"b", 4, false}, {"c", 5, false}, {"d", 6, true}} {
		stored, err := s.PutOwnRecord([]byte(c.raw), c.seq)
		if err != nil || stored != c.stored {
			t.Fatalf("put %s/%d: stored=%v err=%v", c.raw, c.seq, stored, err)
		}
	}
	raw, seq, ok, err := s.OwnRecord()
	if err != nil || !ok || seq != 6 || !bytes.Equal(raw, []byte("d")) {
		t.Fatalf("own record = %q/%d ok=%v err=%v", raw, seq, ok, err)
	}
}
