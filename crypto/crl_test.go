package crypto

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestCreateCRL(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	now := testEpoch
	c1, err := CreateCRL(ak, ac, nil, []*big.Int{big.NewInt(5), big.NewInt(7), big.NewInt(5)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Number.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("first CRL number %v, want 1", c1.Number)
	}
	if c1.Account != ak.ID() {
		t.Fatal("Account field")
	}
	if n := len(c1.List.RevokedCertificateEntries); n != 2 {
		t.Fatalf("%d entries, want 2 (duplicates removed)", n)
	}
	if !c1.List.ThisUpdate.Equal(now) || !c1.List.NextUpdate.Equal(now.Add(365*24*time.Hour)) {
		t.Fatalf("ThisUpdate %v NextUpdate %v", c1.List.ThisUpdate, c1.List.NextUpdate)
	}
	wantErr(t, c1.Verify(ac))
	for _, tc := range []struct {
		serial int64
		want   bool
	}{{5, true}, {7, true}, {6, false}, {0, false}} {
		if got := c1.IsRevoked(big.NewInt(tc.serial)); got != tc.want {
			t.Errorf("IsRevoked(%d) = %v, want %v", tc.serial, got, tc.want)
		}
	}
	if c1.IsRevoked(nil) {
		t.Error("IsRevoked(nil) = true")
	}
	var nilCRL *CRL
	if nilCRL.IsRevoked(big.NewInt(5)) {
		t.Error("nil CRL revokes")
	}

	// The next CRL keeps earlier entries (with their times) and adds new ones.
	later := now.Add(24 * time.Hour)
	c2, err := CreateCRL(ak, ac, c1, []*big.Int{big.NewInt(7), big.NewInt(9)}, later)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Number.Cmp(big.NewInt(2)) != 0 {
		t.Fatalf("second CRL number %v, want 2", c2.Number)
	}
	if n := len(c2.List.RevokedCertificateEntries); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	for _, e := range c2.List.RevokedCertificateEntries {
		wantTime := now
		if e.SerialNumber.Int64() == 9 {
			wantTime = later
		}
		if !e.RevocationTime.Equal(wantTime) {
			t.Errorf("serial %v revoked at %v, want %v", e.SerialNumber, e.RevocationTime, wantTime)
		}
	}
	for _, s := range []int64{5, 7, 9} {
		if !c2.IsRevoked(big.NewInt(s)) {
			t.Errorf("serial %d dropped", s)
		}
	}
	// Supersedes.
	tests := []struct {
		name     string
		new, old *CRL
		want     bool
	}{
		{"newer over older", c2, c1, true},
		{"older over newer", c1, c2, false},
		{"same", c2, c2, false},
		{"over nil", c1, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.new.Supersedes(tc.old); got != tc.want {
				t.Fatalf("Supersedes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCRLNumberMonotonic(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	var prev *CRL
	for i := 1; i <= 5; i++ {
		c, err := CreateCRL(ak, ac, prev, []*big.Int{big.NewInt(int64(100 + i))}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Number.Cmp(big.NewInt(int64(i))) != 0 || !c.Supersedes(prev) {
			t.Fatalf("step %d: number %v", i, c.Number)
		}
		if prev != nil && prev.Supersedes(c) {
			t.Fatalf("step %d: old CRL supersedes new", i)
		}
		if len(c.List.RevokedCertificateEntries) != i {
			t.Fatalf("step %d: %d entries", i, len(c.List.RevokedCertificateEntries))
		}
		prev = c
	}
}

func TestCRLErrors(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	mk, mc := testAccount(t, "mallory")
	mcrl, err := CreateCRL(mk, mc, nil, nil, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	acrl, err := CreateCRL(ak, ac, nil, nil, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"wrong key", func() error { _, err := CreateCRL(mk, ac, nil, nil, testEpoch); return err }, ErrWrongAccount},
		{"prev of another account", func() error { _, err := CreateCRL(ak, ac, mcrl, nil, testEpoch); return err }, ErrWrongAccount},
		{"nil serial", func() error { _, err := CreateCRL(ak, ac, nil, []*big.Int{nil}, testEpoch); return err }, ErrInvalidCRL},
		{"zero serial", func() error { _, err := CreateCRL(ak, ac, nil, []*big.Int{big.NewInt(0)}, testEpoch); return err }, ErrInvalidCRL},
		{"negative serial", func() error { _, err := CreateCRL(ak, ac, nil, []*big.Int{big.NewInt(-3)}, testEpoch); return err }, ErrInvalidCRL},
		{"verify against other account", func() error { return acrl.Verify(mc) }, ErrWrongAccount},
		{"tampered signature", func() error {
			c, err := ParseCRL(flip(acrl.Raw(), len(acrl.Raw())-2, 1))
			if err != nil {
				return err
			}
			return c.Verify(ac)
		}, ErrBadSignature},
		{"garbage", func() error { _, err := ParseCRL([]byte("crl")); return err }, ErrInvalidCRL},
		{"certificate, not CRL", func() error { _, err := ParseCRL(ac.Raw()); return err }, ErrInvalidCRL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.fn(), tc.want)
		})
	}
}

func TestCRLEncoding(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	c, err := CreateCRL(ak, ac, nil, []*big.Int{big.NewInt(42)}, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(c.PEM()), "-----BEGIN X509 CRL-----\n") {
		t.Fatalf("PEM = %q", c.PEM())
	}
	der, err := ParsePEMOrDER(c.PEM())
	if err != nil || !bytes.Equal(der, c.Raw()) {
		t.Fatalf("PEM round trip: %v", err)
	}
	p, err := ParseCRL(der)
	if err != nil {
		t.Fatal(err)
	}
	if p.Number.Cmp(c.Number) != 0 || !p.IsRevoked(big.NewInt(42)) || p.Account != ak.ID() {
		t.Fatalf("round trip: %+v", p)
	}
	wantErr(t, p.Verify(ac))
}
