package crypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCreateAccountCert(t *testing.T) {
	k := testAccountKey(t, "alice")
	before := time.Now()
	ac, err := CreateAccountCert(k, "Alice", CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := ac.Cert
	id := k.ID()
	checks := []struct {
		name string
		ok   bool
	}{
		{"ID", ac.ID == id},
		{"Name", ac.Name == "Alice"},
		{"CN", c.Subject.CommonName == id.String()},
		{"O", len(c.Subject.Organization) == 1 && c.Subject.Organization[0] == "Parley"},
		{"OU", len(c.Subject.OrganizationalUnit) == 1 && c.Subject.OrganizationalUnit[0] == "Alice"},
		{"no subject serial", c.Subject.SerialNumber == ""},
		{"URI", len(c.URIs) == 1 && c.URIs[0].String() == "parley:account:"+id.String()},
		{"self-issued", bytes.Equal(c.RawIssuer, c.RawSubject)},
		{"CA", c.BasicConstraintsValid && c.IsCA},
		{"path len 0", c.MaxPathLen == 0 && c.MaxPathLenZero},
		{"key usage", c.KeyUsage == x509.KeyUsageCertSign|x509.KeyUsageCRLSign|x509.KeyUsageDigitalSignature},
		{"SKI", bytes.Equal(c.SubjectKeyId, id[:20])},
		{"v3", c.Version == 3},
		{"Ed25519", c.SignatureAlgorithm == x509.PureEd25519 && c.PublicKeyAlgorithm == x509.Ed25519},
		{"serial positive 128-bit", c.SerialNumber.Sign() > 0 && c.SerialNumber.BitLen() <= 128},
		{"default NotBefore", c.NotBefore.Before(before.Add(-59*time.Minute)) && c.NotBefore.After(before.Add(-62*time.Minute))},
		{"default lifetime 20y", c.NotAfter.Sub(c.NotBefore) == accountCertLifetime},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("%s check failed", ck.name)
		}
	}
	// Parse round trip, DER and PEM.
	for _, in := range [][]byte{ac.Raw(), ac.PEM()} {
		der, err := ParsePEMOrDER(in)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseAccountCert(der)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != id || p.Name != "Alice" || !bytes.Equal(p.Raw(), ac.Raw()) {
			t.Fatalf("round trip: %+v", p)
		}
	}
	if !strings.HasPrefix(string(ac.PEM()), "-----BEGIN CERTIFICATE-----\n") {
		t.Fatalf("PEM = %q", ac.PEM())
	}
	// No name: no OU.
	ac2, err := CreateAccountCert(k, "", CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ac2.Cert.Subject.OrganizationalUnit) != 0 || ac2.Name != "" {
		t.Fatal("empty name produced an OU")
	}
	if ac2.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Fatal("serial numbers repeat")
	}
}

func TestCertOptionErrors(t *testing.T) {
	k := testAccountKey(t, "alice")
	ak, ac := testAccount(t, "alice")
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"account name too long", func() error {
			_, err := CreateAccountCert(k, strings.Repeat("n", 65), CertOptions{})
			return err
		}, ErrInvalidName},
		{"account name control char", func() error { _, err := CreateAccountCert(k, "a\nb", CertOptions{}); return err }, ErrInvalidName},
		{"account name not UTF-8", func() error { _, err := CreateAccountCert(k, "a\xffb", CertOptions{}); return err }, ErrInvalidName},
		{"account empty window", func() error {
			_, err := CreateAccountCert(k, "", CertOptions{NotBefore: testEpoch, NotAfter: testEpoch})
			return err
		}, ErrInvalidCert},
		{"account rand fails", func() error { _, err := CreateAccountCert(k, "", CertOptions{Rand: errReader{}}); return err }, nil},
		{"account rand zeros", func() error {
			_, err := CreateAccountCert(k, "", CertOptions{Rand: bytes.NewReader(make([]byte, 1000))})
			return err
		}, nil},
		{"device name too long", func() error {
			_, err := IssueDeviceCert(ak, ac, katPub, strings.Repeat("n", 65), CertOptions{})
			return err
		}, ErrInvalidName},
		{"device short key", func() error { _, err := IssueDeviceCert(ak, ac, katPub[:31], "d", CertOptions{}); return err }, ErrInvalidKey},
		{"device wrong account key", func() error {
			_, err := IssueDeviceCert(testAccountKey(t, "mallory"), ac, katPub, "d", CertOptions{})
			return err
		}, ErrWrongAccount},
		{"device window outside account", func() error {
			_, err := IssueDeviceCert(ak, ac, katPub, "d", CertOptions{NotBefore: ac.Cert.NotAfter.Add(time.Hour)})
			return err
		}, ErrInvalidCert},
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
	// 64 bytes of multi-byte UTF-8 is fine.
	if _, err := CreateAccountCert(k, strings.Repeat("é", 32), CertOptions{}); err != nil {
		t.Fatalf("64-byte name: %v", err)
	}
}

func TestIssueDeviceCert(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	dk := testDeviceKey(t, "laptop")
	before := time.Now()
	dc, err := IssueDeviceCert(ak, ac, dk.Public(), "Alice's laptop", CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := dc.Cert
	checks := []struct {
		name string
		ok   bool
	}{
		{"Device", dc.Device == dk.ID()},
		{"Account", dc.Account == ak.ID()},
		{"Name", dc.Name == "Alice's laptop"},
		{"CN", c.Subject.CommonName == dk.ID().String()},
		{"O", len(c.Subject.Organization) == 1 && c.Subject.Organization[0] == "Parley"},
		{"OU", len(c.Subject.OrganizationalUnit) == 1 && c.Subject.OrganizationalUnit[0] == "Alice's laptop"},
		{"URI", len(c.URIs) == 1 && c.URIs[0].String() == "parley:device:"+dk.ID().String()},
		{"issuer", bytes.Equal(c.RawIssuer, ac.Cert.RawSubject)},
		{"AKI", bytes.Equal(c.AuthorityKeyId, ac.Cert.SubjectKeyId)},
		{"not CA", c.BasicConstraintsValid && !c.IsCA},
		{"key usage", c.KeyUsage == x509.KeyUsageDigitalSignature},
		{"ext key usage", len(c.ExtKeyUsage) == 2 && c.ExtKeyUsage[0] == x509.ExtKeyUsageClientAuth && c.ExtKeyUsage[1] == x509.ExtKeyUsageServerAuth},
		{"key is device key", c.PublicKey.(ed25519.PublicKey).Equal(dk.Public())},
		{"signed by account", c.CheckSignatureFrom(ac.Cert) == nil},
		{"default lifetime 10y", c.NotAfter.Sub(c.NotBefore) == deviceCertLifetime},
		{"default NotBefore", c.NotBefore.Before(before.Add(-59 * time.Minute))},
		{"Serial copy", dc.Serial().Cmp(c.SerialNumber) == 0 && dc.Serial() != c.SerialNumber},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("%s check failed", ck.name)
		}
	}
	for _, in := range [][]byte{dc.Raw(), dc.PEM()} {
		der, err := ParsePEMOrDER(in)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseDeviceCert(der)
		if err != nil {
			t.Fatal(err)
		}
		if p.Device != dc.Device || p.Account != dc.Account || p.Name != dc.Name {
			t.Fatalf("round trip: %+v", p)
		}
	}
	// Validity is clipped to the account certificate's.
	long, err := IssueDeviceCert(ak, ac, dk.Public(), "", CertOptions{
		NotBefore: ac.Cert.NotBefore.Add(-48 * time.Hour), NotAfter: ac.Cert.NotAfter.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !long.Cert.NotAfter.Equal(ac.Cert.NotAfter) || !long.Cert.NotBefore.Equal(ac.Cert.NotBefore) {
		t.Fatalf("validity %v..%v not clipped to %v..%v", long.Cert.NotBefore, long.Cert.NotAfter, ac.Cert.NotBefore, ac.Cert.NotAfter)
	}
}

// forgeCert signs tmpl with signer, using parent's subject and key ID but
// not its key (which the standard library would insist on).
func forgeCert(t *testing.T, tmpl, parent *x509.Certificate, pub, signer any) []byte {
	t.Helper()
	p := *parent
	switch s := signer.(type) {
	case ed25519.PrivateKey:
		p.PublicKey = s.Public()
	case *ecdsa.PrivateKey:
		p.PublicKey = s.Public()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, &p, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseAccountCertRejects(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	_, dc := testDevice(t, ak, ac, "phone")
	mallory := testAccountKey(t, "mallory")

	// A certificate for Mallory's key that claims Alice's ID.
	claim := *ac.Cert
	claim.SubjectKeyId = nil
	claim.Subject.ExtraNames = nil
	wrongCN := forgeCert(t, &claim, &claim, mallory.Public(), mallory.k)

	// A right-looking CA certificate with an ECDSA key.
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecTmpl := claim
	ecTmpl.SignatureAlgorithm = x509.UnknownSignatureAlgorithm
	ecCert := forgeCert(t, &ecTmpl, &ecTmpl, ec.Public(), ec)

	// Alice's own template without CA bit.
	notCA := *ac.Cert
	notCA.IsCA = false
	notCA.KeyUsage = x509.KeyUsageDigitalSignature
	notCA.MaxPathLen, notCA.MaxPathLenZero = -1, false
	notCADER, err := x509.CreateCertificate(rand.Reader, &notCA, &notCA, ak.Public(), ak.Signer())
	if err != nil {
		t.Fatal(err)
	}
	// Path length not 0.
	deep := *ac.Cert
	deep.MaxPathLen, deep.MaxPathLenZero = 2, false
	deepDER, err := x509.CreateCertificate(rand.Reader, &deep, &deep, ak.Public(), ak.Signer())
	if err != nil {
		t.Fatal(err)
	}
	// Wrong URI.
	badURI := *ac.Cert
	badURI.URIs = []*url.URL{{Scheme: "parley", Opaque: "account:parley1xyz"}}
	badURIDER, err := x509.CreateCertificate(rand.Reader, &badURI, &badURI, ak.Public(), ak.Signer())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		der  []byte
		want []error
	}{
		{"garbage", []byte("not a certificate"), []error{ErrInvalidCert}},
		{"empty", nil, []error{ErrInvalidCert}},
		{"device cert", dc.Raw(), []error{ErrInvalidCert}},
		{"CN of another key", wrongCN, []error{ErrInvalidCert, ErrWrongAccount}},
		{"ECDSA key", ecCert, []error{ErrInvalidCert}},
		{"not CA", notCADER, []error{ErrInvalidCert}},
		{"path length 2", deepDER, []error{ErrInvalidCert}},
		{"wrong URI", badURIDER, []error{ErrWrongAccount}},
		{"tampered signature", flip(ac.Raw(), len(ac.Raw())-1, 1), []error{ErrBadSignature}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAccountCert(tc.der)
			wantErr(t, err, tc.want...)
		})
	}
}

func TestParseDeviceCertRejects(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	dk := testDeviceKey(t, "phone")
	_, dc := testDevice(t, ak, ac, "phone")
	other := testDeviceKey(t, "other")

	// A device certificate whose CN names another device.
	lie := *dc.Cert
	lie.Subject = pkix.Name{CommonName: other.ID().String(), Organization: []string{"Parley"}}
	lie.RawSubject = nil
	lieDER, err := x509.CreateCertificate(rand.Reader, &lie, ac.Cert, dk.Public(), ak.Signer())
	if err != nil {
		t.Fatal(err)
	}
	// Right CN, URI naming another device.
	lie2 := *dc.Cert
	lie2.URIs = []*url.URL{{Scheme: "parley", Opaque: "device:" + other.ID().String()}}
	lie2DER, err := x509.CreateCertificate(rand.Reader, &lie2, ac.Cert, dk.Public(), ak.Signer())
	if err != nil {
		t.Fatal(err)
	}
	// Issued by a CA whose CN is not an account ID.
	plainCA := *ac.Cert
	plainCA.Subject = pkix.Name{CommonName: "Some CA"}
	plainCA.RawSubject = nil
	plainDER, err := x509.CreateCertificate(rand.Reader, dc.Cert, &plainCA, dk.Public(), ak.Signer())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		der  []byte
		want []error
	}{
		{"garbage", []byte{0x30, 0x03, 0x02, 0x01, 0x01}, []error{ErrInvalidCert}},
		{"account cert", ac.Raw(), []error{ErrInvalidCert}},
		{"CN names another device", lieDER, []error{ErrInvalidCert, ErrWrongDevice}},
		{"URI names another device", lie2DER, []error{ErrInvalidCert, ErrWrongDevice}},
		{"issuer not an account", plainDER, []error{ErrInvalidCert}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDeviceCert(tc.der)
			wantErr(t, err, tc.want...)
		})
	}
}

func TestVerifyDevice(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	_, dc := testDevice(t, ak, ac, "phone")
	_, revokedDC := testDevice(t, ak, ac, "stolen")
	mk, mc := testAccount(t, "mallory")
	_, malloryDC := testDevice(t, mk, mc, "phone")
	now := testEpoch

	crl, err := CreateCRL(ak, ac, nil, []*big.Int{revokedDC.Serial()}, now)
	if err != nil {
		t.Fatal(err)
	}
	malloryCRL, err := CreateCRL(mk, mc, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	// A CRL with Alice's issuer name but Mallory's signature.
	forgedCRLDER := flip(crl.Raw(), len(crl.Raw())-1, 1)
	forgedCRL, err := ParseCRL(forgedCRLDER)
	if err != nil {
		t.Fatal(err)
	}

	// A device certificate naming Alice as issuer, signed by Mallory.
	forgedDER := forgeCert(t, dc.Cert, ac.Cert, dc.Cert.PublicKey, mk.k)
	forged, err := ParseDeviceCert(forgedDER)
	if err != nil {
		t.Fatal(err)
	}
	// A device certificate whose Device field was altered after parsing.
	swapped := *dc
	swapped.Device = testDeviceKey(t, "other").ID()

	// Short-lived certificates for the clock checks.
	shortAC, err := CreateAccountCert(ak, "", CertOptions{NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expiredDC, err := IssueDeviceCert(ak, ac, dc.Cert.PublicKey.(ed25519.PublicKey), "", CertOptions{NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	futureDC, err := IssueDeviceCert(ak, ac, dc.Cert.PublicKey.(ed25519.PublicKey), "", CertOptions{NotBefore: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		id       AccountID
		ac       *AccountCert
		dc       *DeviceCert
		crl      *CRL
		now      time.Time
		want     []error
		mentions string
	}{
		{"ok", ak.ID(), ac, dc, nil, now, nil, ""},
		{"ok with CRL", ak.ID(), ac, dc, crl, now, nil, ""},
		{"ok at NotBefore", ak.ID(), ac, dc, nil, dc.Cert.NotBefore, nil, ""},
		{"wrong account ID", mk.ID(), ac, dc, nil, now, []error{ErrWrongAccount}, "account certificate"},
		{"other account's device", ak.ID(), ac, malloryDC, nil, now, []error{ErrWrongAccount}, "device certificate"},
		{"other account's cert for ID", ak.ID(), mc, dc, nil, now, []error{ErrWrongAccount}, "account certificate"},
		{"forged device signature", ak.ID(), ac, forged, nil, now, []error{ErrBadSignature}, "device certificate"},
		{"altered device ID", ak.ID(), ac, &swapped, nil, now, []error{ErrWrongDevice}, "device certificate"},
		{"account expired", ak.ID(), shortAC, dc, nil, now, []error{ErrExpired}, "account certificate"},
		{"account not yet valid", ak.ID(), ac, dc, nil, ac.Cert.NotBefore.Add(-time.Second), []error{ErrNotYetValid}, "account certificate"},
		{"device expired", ak.ID(), ac, expiredDC, nil, now, []error{ErrExpired}, "device certificate"},
		{"device not yet valid", ak.ID(), ac, futureDC, nil, now, []error{ErrNotYetValid}, "device certificate"},
		{"revoked", ak.ID(), ac, revokedDC, crl, now, []error{ErrRevoked}, "revocation list #1"},
		{"revoked but no CRL given", ak.ID(), ac, revokedDC, nil, now, nil, ""},
		{"CRL of another account", ak.ID(), ac, dc, malloryCRL, now, []error{ErrWrongAccount}, "revocation list"},
		{"forged CRL", ak.ID(), ac, dc, forgedCRL, now, []error{ErrBadSignature}, "revocation list"},
		{"nil device cert", ak.ID(), ac, nil, nil, now, []error{ErrInvalidCert}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyDevice(tc.id, tc.ac, tc.dc, tc.crl, tc.now)
			wantErr(t, err, tc.want...)
			if tc.mentions != "" {
				wantErrText(t, err, tc.mentions)
			}
		})
	}
}

func TestParsePEMOrDER(t *testing.T) {
	_, ac := testAccount(t, "alice")
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr bool
	}{
		{"DER", ac.Raw(), ac.Raw(), false},
		{"PEM", ac.PEM(), ac.Raw(), false},
		{"PEM with space", append(append([]byte("\n  "), ac.PEM()...), "\n\n"...), ac.Raw(), false},
		{"two PEM blocks", append(ac.PEM(), ac.PEM()...), nil, true},
		{"broken PEM", []byte("-----BEGIN CERTIFICATE-----\nxx"), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePEMOrDER(tc.in)
			if tc.wantErr {
				wantErr(t, err, ErrMalformed)
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, %v", len(got), err)
			}
		})
	}
}
