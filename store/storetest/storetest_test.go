package storetest_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// recordingTB captures Cleanup functions and Errorf calls so the test can
// run the cleanup itself and look at the state afterwards.
type recordingTB struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestMustOpenCleanupClosesStore(t *testing.T) {
	rec := &recordingTB{TB: t}
	s := storetest.MustOpen(rec, nil)
	if err := s.SetSetting("k", "v"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(s.Path())
	if len(rec.cleanups) != 1 {
		t.Fatalf("MustOpen registered %d cleanups, want 1", len(rec.cleanups))
	}
	rec.runCleanups()
	if len(rec.errors) != 0 {
		t.Fatalf("cleanup reported errors: %v", rec.errors)
	}
	// The lock must be free again and the data must be there.
	s2, err := store.Open(dir, &store.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("reopen after cleanup: %v", err)
	}
	defer s2.Close()
	if v, ok, err := s2.Setting("k"); err != nil || !ok || v != "v" {
		t.Fatalf("Setting(k) = %q, %v, %v; want v, true, nil", v, ok, err)
	}
}

func TestMustOpenDoesNotModifyOptions(t *testing.T) {
	o := &store.Options{Passphrase: []byte("pw")}
	storetest.MustOpen(t, o)
	if o.KDF != (store.Options{}).KDF {
		t.Fatalf("MustOpen changed o.KDF to %+v", o.KDF)
	}
}
