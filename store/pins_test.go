package store_test

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
)

func TestAccountPins(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	var a, b crypto.AccountID
	a[0], b[0] = 1, 2
	serial := func(n byte) []byte { return []byte{n} }

	// Without create, an account without a pin stays without one.
	if err := s.Pins().Raise(a, store.AccountPin{Seq: 5}, false); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Pins().Get(a); ok || err != nil {
		t.Fatalf("pin after raise without create: ok=%v err=%v", ok, err)
	}
	if err := s.Pins().Check(a, store.AccountPin{}); err != nil {
		t.Fatalf("check of an unpinned account: %v", err)
	}
	if err := s.Pins().Raise(a, store.AccountPin{Seq: 10, CRLNumber: 2, Revoked: [][]byte{serial(9), serial(3), serial(9)}}, true); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name string
		pin  store.AccountPin
		want error // nil: accepted and stored
	}{
		{"same record again", store.AccountPin{Seq: 10, CRLNumber: 2, Revoked: [][]byte{serial(3), serial(9)}}, nil},
		{"older sequence", store.AccountPin{Seq: 9, CRLNumber: 2, Revoked: [][]byte{serial(3), serial(9)}}, store.ErrRollback},
		{"older CRL", store.AccountPin{Seq: 11, CRLNumber: 1, Revoked: [][]byte{serial(3), serial(9)}}, store.ErrRollback},
		{"no CRL at all", store.AccountPin{Seq: 11}, store.ErrRollback},
		{"CRL that unrevokes a device", store.AccountPin{Seq: 11, CRLNumber: 3, Revoked: [][]byte{serial(3)}}, store.ErrRollback},
		{"newer record, same CRL", store.AccountPin{Seq: 11, CRLNumber: 2, Revoked: [][]byte{serial(9), serial(3)}}, nil},
		{"newer CRL revoking more", store.AccountPin{Seq: 12, CRLNumber: 3, Revoked: [][]byte{serial(3), serial(9), serial(4)}}, nil},
		{"the pin before the last", store.AccountPin{Seq: 11, CRLNumber: 2, Revoked: [][]byte{serial(9), serial(3)}}, store.ErrRollback},
		{"empty serial", store.AccountPin{Seq: 13, CRLNumber: 3, Revoked: [][]byte{{}}}, store.ErrInvalid},
	}
	for _, st := range steps {
		before, _, _ := s.Pins().Get(a)
		checkErr := s.Pins().Check(a, st.pin)
		err := s.Pins().Raise(a, st.pin, false)
		if !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Fatalf("%s: Pins().Raise = %v, want %v", st.name, err, st.want)
		}
		if (checkErr == nil) != (err == nil) {
			t.Fatalf("%s: Pins().Check = %v, Pins().Raise = %v", st.name, checkErr, err)
		}
		var rb *store.RollbackError
		if errors.Is(st.want, store.ErrRollback) && (!errors.As(err, &rb) || rb.Account != a) {
			t.Fatalf("%s: %v is not a RollbackError of the account", st.name, err)
		}
		after, _, _ := s.Pins().Get(a)
		if err != nil && (after.Seq != before.Seq || after.CRLNumber != before.CRLNumber || len(after.Revoked) != len(before.Revoked)) {
			t.Fatalf("%s: refused, yet the pin changed from %+v to %+v", st.name, before, after)
		}
		if err == nil && (after.Seq != st.pin.Seq || after.CRLNumber != st.pin.CRLNumber) {
			t.Fatalf("%s: accepted, pin = %+v", st.name, after)
		}
	}
	if _, ok, _ := s.Pins().Get(b); ok {
		t.Fatal("another account got a pin")
	}

	// The pin is durable.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, nil)
	pin, ok, err := s.Pins().Get(a)
	if err != nil || !ok || pin.Seq != 12 || pin.CRLNumber != 3 || len(pin.Revoked) != 3 {
		t.Fatalf("after reopen: %+v ok=%v err=%v", pin, ok, err)
	}
	if err := s.Pins().Check(a, store.AccountPin{Seq: 11, CRLNumber: 3, Revoked: pin.Revoked}); !errors.Is(err, store.ErrRollback) {
		t.Fatalf("after reopen an older record is not refused: %v", err)
	}
}

func TestAccountPinCorrupt(t *testing.T) {
	s := mustOpen(t, t.TempDir(), nil)
	var a crypto.AccountID
	a[0] = 7
	for _, raw := range []string{`{"v":2,"seq":1}`, `not json`, `{"v":1,"seq":1,"revoked":[""]}`} {
		if err := s.PutRawForTest("pins", string(a[:]), []byte(raw)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Pins().Get(a); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("pin %q: err = %v, want ErrCorrupt", raw, err)
		}
	}
}
