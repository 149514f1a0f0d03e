package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestAccountKey(t *testing.T) {
	seed := testSeed("account")
	k, err := AccountKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	std := ed25519.NewKeyFromSeed(seed)
	if !k.Public().Equal(std.Public()) {
		t.Fatal("public key differs from ed25519.NewKeyFromSeed")
	}
	if k.ID() != AccountIDFromPublicKey(std.Public().(ed25519.PublicKey)) {
		t.Fatal("ID is not derived from the public key")
	}
	s := k.Seed()
	if !bytes.Equal(s, seed) {
		t.Fatal("Seed round trip")
	}
	s[0] ^= 1
	if !bytes.Equal(k.Seed(), seed) {
		t.Fatal("Seed does not return a copy")
	}
	if !k.Signer().Public().(ed25519.PublicKey).Equal(k.Public()) {
		t.Fatal("Signer public key differs")
	}
	sig := k.Sign("parley/test/v1", []byte("m"))
	wantErr(t, Verify(k.Public(), "parley/test/v1", []byte("m"), sig))
	if k.Sign("", []byte("m")) != nil {
		t.Fatal("Sign with empty context returned a signature")
	}
	k.Wipe()
	if !bytes.Equal(k.Seed(), make([]byte, 32)) {
		t.Fatal("Wipe left key material")
	}
}

func TestDeviceKey(t *testing.T) {
	seed := testSeed("device")
	k, err := DeviceKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != DeviceIDFromPublicKey(k.Public()) {
		t.Fatal("ID is not derived from the public key")
	}
	priv := k.Ed25519()
	if !bytes.Equal(priv, ed25519.NewKeyFromSeed(seed)) {
		t.Fatal("Ed25519 returns the wrong key")
	}
	priv[0] ^= 1
	if !bytes.Equal(k.Seed(), seed) {
		t.Fatal("Ed25519 does not return a copy")
	}
	sig := k.Sign("parley/test/v1", []byte("m"))
	wantErr(t, Verify(k.Public(), "parley/test/v1", []byte("m"), sig))
	if !k.Signer().Public().(ed25519.PublicKey).Equal(k.Public()) {
		t.Fatal("Signer public key differs")
	}
	k.Wipe()
	if !bytes.Equal(k.Ed25519(), make([]byte, 64)) {
		t.Fatal("Wipe left key material")
	}
}

func TestNewKeys(t *testing.T) {
	a1, err := NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a1.ID() == a2.ID() {
		t.Fatal("two random account keys are equal")
	}
	d1, err := NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d1.ID() == "" {
		t.Fatal("empty device ID")
	}
	// A given randomness source is used as-is.
	r := bytes.NewReader(testSeed("x"))
	a3, err := NewAccountKey(r)
	if err != nil || !bytes.Equal(a3.Seed(), testSeed("x")) {
		t.Fatalf("NewAccountKey did not use the reader: %v", err)
	}
	r = bytes.NewReader(testSeed("x"))
	d3, err := NewDeviceKey(r)
	if err != nil || !bytes.Equal(d3.Seed(), testSeed("x")) {
		t.Fatalf("NewDeviceKey did not use the reader: %v", err)
	}
}

func TestKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"account short seed", func() error { _, err := AccountKeyFromSeed(make([]byte, 31)); return err }, ErrInvalidKey},
		{"account long seed", func() error { _, err := AccountKeyFromSeed(make([]byte, 64)); return err }, ErrInvalidKey},
		{"device nil seed", func() error { _, err := DeviceKeyFromSeed(nil); return err }, ErrInvalidKey},
		{"account rand fails", func() error { _, err := NewAccountKey(errReader{}); return err }, nil},
		{"device rand short", func() error { _, err := NewDeviceKey(bytes.NewReader(make([]byte, 5))); return err }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil {
				wantErr(t, err, tc.want)
			}
		})
	}
}
