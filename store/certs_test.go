package store_test

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

var (
	devA = storetest.Device("a")
	devB = storetest.Device("b")
)

func TestDeviceCerts(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	if m, err := s.DeviceCerts(); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("DeviceCerts on empty store = %v, %v; want empty map", m, err)
	}
	want := map[crypto.DeviceID][]byte{
		devA: []byte("cert a"),
		devB: []byte("cert b"),
	}
	for id, der := range want {
		if err := s.PutDeviceCert(id, der); err != nil {
			t.Fatal(err)
		}
	}
	// Replace one.
	want[devA] = []byte("cert a, renewed")
	if err := s.PutDeviceCert(devA, want[devA]); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeviceCerts()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("DeviceCerts = %q, want %q", got, want)
	}
	got[devA][0] = 'X' // caller owns the copy
	s.Close()

	s = mustOpen(t, dir, nil)
	got, err = s.DeviceCerts()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("after reopen DeviceCerts = %q, want %q", got, want)
	}

	if err := s.DeleteDeviceCert(devA); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDeviceCert(devA); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	got, _ = s.DeviceCerts()
	if _, ok := got[devA]; ok || len(got) != 1 {
		t.Fatalf("after delete DeviceCerts = %q", got)
	}
}

func TestPutDeviceCertInvalid(t *testing.T) {
	tests := []struct {
		name string
		id   crypto.DeviceID
		der  []byte
	}{
		{"empty ID", "", []byte("x")},
		{"empty DER", devA, nil},
		{"huge DER", devA, make([]byte, 64<<10+1)},
		{"ID not UTF-8", "\xff", []byte("x")},
		{"not a device ID", crypto.DeviceID("dev-a"), []byte("x")},
	}
	s := storetest.MustOpen(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutDeviceCert(tt.id, tt.der); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("PutDeviceCert error = %v, want ErrInvalid", err)
			}
		})
	}
	if err := s.DeleteDeviceCert(""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("DeleteDeviceCert(\"\") = %v, want ErrInvalid", err)
	}
}

func TestCRL(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	der, n, err := s.CRL()
	if der != nil || n != 0 || err != nil {
		t.Fatalf("CRL on empty store = %q, %d, %v; want nil, 0, nil", der, n, err)
	}
	steps := []struct {
		name    string
		der     string
		number  uint64
		wantErr error
		wantDER string // stored CRL after the step
		wantN   uint64
	}{
		{"first, number 0", "crl0", 0, nil, "crl0", 0},
		{"same number", "crl0'", 0, store.ErrStaleCRL, "crl0", 0},
		{"newer", "crl5", 5, nil, "crl5", 5},
		{"same again", "crl5'", 5, store.ErrStaleCRL, "crl5", 5},
		{"older", "crl4", 4, store.ErrStaleCRL, "crl5", 5},
		{"empty DER", "", 9, store.ErrInvalid, "crl5", 5},
		{"much newer", "crl1000", 1000, nil, "crl1000", 1000},
		{"max", "crlmax", ^uint64(0), nil, "crlmax", ^uint64(0)},
		{"nothing after max", "crl?", ^uint64(0), store.ErrStaleCRL, "crlmax", ^uint64(0)},
	}
	for _, st := range steps {
		err := s.PutCRL([]byte(st.der), st.number)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: PutCRL error = %v, want %v", st.name, err, st.wantErr)
		}
		der, n, err := s.CRL()
		if err != nil {
			t.Fatal(err)
		}
		if string(der) != st.wantDER || n != st.wantN {
			t.Fatalf("%s: CRL = %q, %d; want %q, %d", st.name, der, n, st.wantDER, st.wantN)
		}
	}
}
