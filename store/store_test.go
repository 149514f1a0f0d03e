package store_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// testClock is a settable clock for Options.Now.
type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time { return c.t }

// mustOpen opens dir with cheap KDF parameters and registers Close.
func mustOpen(t *testing.T, dir string, o *store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(dir, withTestKDF(o))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func withTestKDF(o *store.Options) *store.Options {
	var opts store.Options
	if o != nil {
		opts = *o
	}
	if opts.KDF == (crypto.KDFParams{}) {
		opts.KDF = crypto.TestKDFParams
	}
	return &opts
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	s := mustOpen(t, dir, nil)
	if got, want := s.Path(), filepath.Join(dir, store.FileName); got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	if got := perm(t, dir); got != 0o700 {
		t.Errorf("data dir mode %#o, want 0700", got)
	}
	if got := perm(t, s.Path()); got != 0o600 {
		t.Errorf("db file mode %#o, want 0600", got)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestOpenExistingDirModes(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		wantErr error
	}{
		{"private", 0o700, nil},
		{"group readable", 0o750, nil},
		{"world readable", 0o755, nil},
		{"group writable", 0o770, store.ErrInsecureDir},
		{"world writable", 0o757, store.ErrInsecureDir},
		{"all open", 0o777, store.ErrInsecureDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(dir, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), dir) {
					t.Errorf("error %q does not name the dir", err)
				}
				if _, statErr := os.Stat(filepath.Join(dir, store.FileName)); !os.IsNotExist(statErr) {
					t.Errorf("db file created in a refused dir (stat: %v)", statErr)
				}
				return
			}
			s.Close()
			if got := perm(t, dir); got != tt.mode {
				t.Errorf("dir mode changed to %#o, want %#o left alone", got, tt.mode)
			}
		})
	}
}

func TestOpenTightensFileMode(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	s.Close()
	if err := os.Chmod(s.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, nil)
	if got := perm(t, s.Path()); got != 0o600 {
		t.Errorf("db file mode %#o after reopen, want 0600", got)
	}
}

func TestOpenRejectsBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
	}{
		{"empty", ""},
		{"not a directory", file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := store.Open(tt.dir, nil); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Open(%q) error = %v, want ErrInvalid", tt.dir, err)
			}
		})
	}
}

func TestOpenRejectsNonBoltFile(t *testing.T) {
	dir := t.TempDir()
	junk := make([]byte, 8192)
	for i := range junk {
		junk[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(dir, store.FileName), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(dir, nil); err == nil {
		t.Fatal("Open of a junk file succeeded")
	}
}

func TestDefaults(t *testing.T) {
	s := storetest.MustOpen(t, &store.Options{KDF: crypto.TestKDFParams})
	if got := s.KDFForTest(); got != crypto.TestKDFParams {
		t.Errorf("KDF = %+v, want the one given", got)
	}
	s2, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.KDFForTest(); got != crypto.DefaultKDFParams {
		t.Errorf("zero KDF = %+v, want DefaultKDFParams", got)
	}
	// Default Now: the timestamps are close to the real clock.
	before := time.Now().Add(-time.Second)
	if err := s2.PutContact(store.Contact{AccountID: storetest.Account("x"), State: store.Accepted}); err != nil {
		t.Fatal(err)
	}
	c, err := s2.Contact(storetest.Account("x"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Created.Before(before) || c.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("Created = %v with the default clock, want about now", c.Created)
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.SetSetting("k", "v"); err == nil {
		t.Fatal("SetSetting after Close succeeded")
	}
}

func TestSchemaVersionOnNewFile(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	v, err := s.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != store.CurrentSchemaForTest() || v < 2 {
		t.Fatalf("schema version %d, want the current %d", v, store.CurrentSchemaForTest())
	}
}

func TestSchemaTooNew(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	if err := s.PutRawForTest("meta", "schema", binary.BigEndian.AppendUint64(nil, 99)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := store.Open(dir, nil)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open error = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "99") {
		t.Errorf("error %q does not give the file's version", err)
	}
}

func TestSchemaVersionCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	if err := s.PutRawForTest("meta", "schema", []byte{1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := store.Open(dir, nil); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open error = %v, want ErrCorrupt", err)
	}
}

func TestMigrationHook(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	if err := s.SetSetting("before", "v1"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	runs := 0
	toV2 := func(tx *bolt.Tx) error {
		runs++
		b, err := tx.CreateBucket([]byte("test-v2"))
		if err != nil {
			return err
		}
		// A migration sees the data of the older schema.
		old := tx.Bucket([]byte("settings")).Get([]byte("before"))
		return b.Put([]byte("copied"), old)
	}
	for i := range 2 {
		s, err := store.OpenWithMigrationsForTest(dir, nil, toV2)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		v, err := s.SchemaVersion()
		if err != nil {
			t.Fatal(err)
		}
		if want := store.CurrentSchemaForTest() + 1; v != want {
			t.Errorf("open %d: schema %d, want %d", i, v, want)
		}
		if got := string(s.GetRawForTest("test-v2", "copied")); got != "v1" {
			t.Errorf("open %d: migrated value %q, want v1", i, got)
		}
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		s.Close()
	}
	if runs != 1 {
		t.Fatalf("migration ran %d times over two opens, want 1", runs)
	}

	// Code that knows only the current schema refuses the migrated file.
	if _, err := store.Open(dir, nil); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer file with current code: %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationFreshFileRunsAllSteps(t *testing.T) {
	runs := 0
	s, err := store.OpenWithMigrationsForTest(t.TempDir(), nil, func(tx *bolt.Tx) error {
		runs++
		// The steps before this one have already run.
		if tx.Bucket([]byte("contacts")) == nil {
			t.Error("v1 buckets missing when the v2 step runs")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(); v != store.CurrentSchemaForTest()+1 || runs != 1 {
		t.Fatalf("schema %d after %d runs, want %d after 1", v, runs, store.CurrentSchemaForTest()+1)
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir, nil).Close()
	boom := errors.New("boom")
	_, err := store.OpenWithMigrationsForTest(dir, nil, func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Open error = %v, want the migration's error", err)
	}
	s := mustOpen(t, dir, nil)
	if v, err := s.SchemaVersion(); err != nil || v != store.CurrentSchemaForTest() {
		t.Fatalf("schema after failed migration = %d, %v; want %d", v, err, store.CurrentSchemaForTest())
	}
	if s.HasBucketForTest("half-done") {
		t.Fatal("bucket made by the failed migration survived")
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
