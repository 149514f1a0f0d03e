package crypto

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

// testSeed returns a fixed 32-byte seed derived from label.
func testSeed(label string) []byte {
	s := sha256.Sum256([]byte("parley test seed " + label))
	return s[:]
}

func testAccountKey(t testing.TB, label string) *AccountKey {
	t.Helper()
	k, err := AccountKeyFromSeed(testSeed(label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testDeviceKey(t testing.TB, label string) *DeviceKey {
	t.Helper()
	k, err := DeviceKeyFromSeed(testSeed(label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testEpoch is a fixed "now" for certificate tests.
var testEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testAccount returns a key and a certificate valid from testEpoch-1h for
// 20 years.
func testAccount(t testing.TB, label string) (*AccountKey, *AccountCert) {
	t.Helper()
	k := testAccountKey(t, label)
	ac, err := CreateAccountCert(k, "", CertOptions{NotBefore: testEpoch.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return k, ac
}

func testDevice(t testing.TB, ak *AccountKey, ac *AccountCert, label string) (*DeviceKey, *DeviceCert) {
	t.Helper()
	dk := testDeviceKey(t, label)
	dc, err := IssueDeviceCert(ak, ac, dk.Public(), label, CertOptions{NotBefore: testEpoch.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return dk, dc
}

// wantErr fails unless err wraps every one of want, or err is nil when
// want is empty.
func wantErr(t testing.TB, err error, want ...error) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Fatalf("got error %q, want it to wrap %q", err, w)
		}
	}
}

// wantErrText fails unless err is non-nil and mentions each substring.
func wantErrText(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not mention %q", err, s)
		}
	}
}

// flip returns a copy of b with byte i XORed with x.
func flip(b []byte, i int, x byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= x
	return c
}
