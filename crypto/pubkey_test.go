package crypto

import (
	stdcrypto "crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"slices"
	"testing"
	"time"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// torsionKeys are the eight points of small order of edwards25519, in
// their canonical encodings, as listed in "Taming the many EdDSAs"
// (Chalkias, Garillot, Nikolaenko, 2020, table 6) and in libsodium's
// blocklist: the identity, the point of order 2, two of order 4 and four
// of order 8.
var torsionKeys = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // order 1
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
}

// nonCanonicalTorsionKeys are the other spellings of torsion points that
// lax decoders (Go's among them) accept: y + p for y = 0 and 1, and x = 0
// with the sign bit set ("negative zero").
var nonCanonicalTorsionKeys = []string{
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, negative zero
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, negative zero
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (≡ 0)
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign set
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1 (≡ 1)
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p + 1, sign set
}

func weakKey(t testing.TB, h string) ed25519.PublicKey {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != ed25519.PublicKeySize {
		t.Fatalf("bad test key %q", h)
	}
	return b
}

func allWeakKeys() []string { return slices.Concat(torsionKeys, nonCanonicalTorsionKeys) }

// forge looks for a signature that the standard library accepts under the
// small-order key pub for msg, without any private key: R is a torsion
// point and S = 0, which verifies when R = -[k]A for k = H(dom(ctx) || R ||
// A || msg). For the identity every R = identity works; for a point of
// order n about one R in n does.
func forge(pub ed25519.PublicKey, ctx string, msg []byte) ([]byte, bool) {
	for _, r := range torsionKeys {
		sig := make([]byte, ed25519.SignatureSize)
		rb, _ := hex.DecodeString(r)
		copy(sig, rb)
		var err error
		if ctx == "" {
			if ed25519.Verify(pub, msg, sig) {
				return sig, true
			}
			continue
		}
		if err = ed25519.VerifyWithOptions(pub, msg, sig, &ed25519.Options{Context: ctx}); err == nil {
			return sig, true
		}
	}
	return nil, false
}

// forgeMessage varies a message until forge succeeds.
func forgeMessage(pub ed25519.PublicKey, ctx string) (msg, sig []byte, ok bool) {
	for i := range 64 {
		msg = fmt.Appendf(nil, "forged message %d", i)
		if sig, ok = forge(pub, ctx, msg); ok {
			return msg, sig, true
		}
	}
	return nil, nil, false
}

func TestCheckPublicKeyRefusesSmallOrderAndNonCanonical(t *testing.T) {
	for _, h := range allWeakKeys() {
		wantErr(t, CheckPublicKey(weakKey(t, h)), ErrWeakKey)
	}
	// Real keys pass.
	for i := range 200 {
		k := testDeviceKey(t, fmt.Sprint("real ", i))
		if err := CheckPublicKey(k.Public()); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	wantErr(t, CheckPublicKey(make([]byte, 31)), ErrInvalidKey)
	wantErr(t, CheckPublicKey(nil), ErrInvalidKey)
}

// TestCheckPublicKeyCanonical walks the y < 19 whose y + p is still a
// 255-bit number: y + p is a second spelling of y whenever y is a point.
// Points among them that are not of small order must pass in canonical
// form and fail in the other; values that are not points fail both ways.
func TestCheckPublicKeyCanonical(t *testing.T) {
	var points, nonPoints int
	for y := int64(2); y < 19; y++ {
		for _, sign := range []byte{0, 0x80} {
			canon := encodeY(big.NewInt(y), sign)
			alias := encodeY(new(big.Int).Add(curveP, big.NewInt(y)), sign)
			err := CheckPublicKey(canon)
			if err == nil {
				points++
			} else {
				nonPoints++
				wantErrText(t, err, "not a point")
			}
			wantErr(t, CheckPublicKey(alias), ErrWeakKey)
		}
	}
	if points == 0 || nonPoints == 0 {
		t.Fatalf("%d points and %d non-points among small y: the walk tests nothing", points, nonPoints)
	}
}

// encodeY is the 32-byte little-endian encoding of y with sign in bit 255.
func encodeY(y *big.Int, sign byte) ed25519.PublicKey {
	b := y.FillBytes(make([]byte, 32))
	slices.Reverse(b)
	b[31] |= sign
	return b
}

// TestSmallOrderForgery shows the attack (the standard library accepts a
// signature nobody made under a torsion key) and that Verify and
// OpenEnvelope refuse it.
func TestSmallOrderForgery(t *testing.T) {
	const ctx = "parley/test/v1"
	forged := 0
	defer func() { t.Logf("forged signatures under %d of %d weak keys", forged, len(allWeakKeys())) }()
	for i, h := range allWeakKeys() {
		pub := weakKey(t, h)
		msg, sig, ok := forgeMessage(pub, ctx)
		canonical := i < len(torsionKeys)
		if ok {
			forged++
		}
		if !ok {
			if canonical {
				t.Errorf("no forgery found under torsion key %s: the test's premise is wrong", h)
			}
			continue // this spelling does not even decode in crypto/ed25519
		}
		if err := Verify(pub, ctx, msg, sig); !errors.Is(err, ErrWeakKey) {
			t.Errorf("Verify accepted a forged signature under small-order key %s: %v", h, err)
		}

		// The same forgery in an envelope.
		e := &Envelope{Context: ctx, Signer: pub}
		var env []byte
		for j := range 64 {
			e.Payload = fmt.Appendf(nil, "payload %d", j)
			if s, ok := forge(pub, ctx, e.appendBody(nil)); ok {
				e.Signature = s
				env = e.Marshal()
				break
			}
		}
		if env == nil {
			continue
		}
		if _, err := OpenEnvelope(env, ctx, 0); !errors.Is(err, ErrWeakKey) {
			t.Errorf("OpenEnvelope accepted a forged envelope under small-order key %s: %v", h, err)
		}
		if _, err := ParseEnvelope(env, 0); !errors.Is(err, ErrWeakKey) {
			t.Errorf("ParseEnvelope accepted a small-order signer %s: %v", h, err)
		}
	}
}

// forgingSigner is a crypto.Signer for a small-order key: it "signs" any
// message by forgery, failing when no torsion R fits (the caller retries
// with another serial number).
type forgingSigner struct{ pub ed25519.PublicKey }

func (s forgingSigner) Public() stdcrypto.PublicKey { return s.pub }

func (s forgingSigner) Sign(_ io.Reader, msg []byte, _ stdcrypto.SignerOpts) ([]byte, error) {
	if sig, ok := forge(s.pub, "", msg); ok {
		return sig, nil
	}
	return nil, errors.New("no forgery for this message")
}

// templateOf copies c for use as a template, without the raw encodings
// that x509.CreateCertificate would copy instead of the fields.
func templateOf(c *x509.Certificate) x509.Certificate {
	t := *c
	t.Raw, t.RawTBSCertificate, t.RawSubjectPublicKeyInfo, t.RawSubject, t.RawIssuer = nil, nil, nil, nil, nil
	return t
}

// createForged retries x509.CreateCertificate with fresh serials until the
// forging signer finds a signature.
func createForged(t *testing.T, tmpl, parent *x509.Certificate, pub ed25519.PublicKey, signer stdcrypto.Signer) []byte {
	t.Helper()
	for range 64 {
		serial, err := randomSerial(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber = serial
		if der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer); err == nil {
			return der
		}
	}
	t.Fatal("no forged certificate after 64 serials")
	return nil
}

// TestSmallOrderCertificates: an account certificate for a torsion key
// "self-signs" by forgery and then certifies any device, so the whole
// chain verifies for an account nobody holds; a real account must not
// certify a torsion device key either, nor may one be parsed.
func TestSmallOrderCertificates(t *testing.T) {
	ak, ac := testAccount(t, "alice")
	_, dc := testDevice(t, ak, ac, "phone")
	for _, h := range torsionKeys[:2] { // orders 1 and 2: forgeries are quick
		pub := weakKey(t, h)
		id := AccountIDFromPublicKey(pub)
		forger := forgingSigner{pub}

		// The account certificate of the torsion key, as
		// CreateAccountCert would make it.
		tmpl := templateOf(ac.Cert)
		tmpl.Subject.CommonName = id.String()
		tmpl.Subject.Names, tmpl.Subject.ExtraNames = nil, nil
		tmpl.SubjectKeyId = id[:20]
		tmpl.URIs = []*url.URL{mustURL(t, accountURIPrefix+id.String())}
		tmpl.PublicKey = pub
		acDER := createForged(t, &tmpl, &tmpl, pub, forger)
		wac, err := ParseAccountCert(acDER)
		if err == nil {
			t.Errorf("ParseAccountCert accepted the account certificate of small-order key %s", h)
		} else {
			wantErr(t, err, ErrInvalidCert, ErrWeakKey)
			c, err := x509.ParseCertificate(acDER)
			if err != nil {
				t.Fatal(err)
			}
			wac = &AccountCert{Cert: c, ID: id} // as a careless caller might
		}

		// A device certificate it "issues" for a real device key: the
		// chain verified before the fix.
		dtmpl := templateOf(dc.Cert)
		dtmpl.AuthorityKeyId = wac.Cert.SubjectKeyId
		dDER := createForged(t, &dtmpl, wac.Cert, dc.Cert.PublicKey.(ed25519.PublicKey), forger)
		wdc, err := ParseDeviceCert(dDER)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyDevice(id, wac, wdc, nil, testEpoch); !errors.Is(err, ErrWeakKey) {
			t.Errorf("VerifyDevice accepted a device certified by small-order account key %s: %v", h, err)
		}

		// A real account certifying a torsion device key.
		if _, err := IssueDeviceCert(ak, ac, pub, "weak", CertOptions{NotBefore: testEpoch.Add(-time.Hour)}); !errors.Is(err, ErrWeakKey) {
			t.Errorf("IssueDeviceCert certified small-order device key %s: %v", h, err)
		}
		dtmpl = templateOf(dc.Cert)
		dev := DeviceIDFromPublicKey(pub)
		dtmpl.Subject.CommonName = dev.String()
		dtmpl.Subject.Names, dtmpl.Subject.ExtraNames = nil, nil
		dtmpl.URIs = []*url.URL{mustURL(t, deviceURIPrefix+dev.String())}
		weakDER := forgeCert(t, &dtmpl, ac.Cert, pub, ak.k)
		if _, err := ParseDeviceCert(weakDER); !errors.Is(err, ErrWeakKey) {
			t.Errorf("ParseDeviceCert accepted small-order device key %s: %v", h, err)
		}
	}
}

// TestSmallOrderDeviceIDs: device IDs (and so link codes, which carry one
// and read its key with PublicKey) of torsion keys are refused.
func TestSmallOrderDeviceIDs(t *testing.T) {
	for _, h := range allWeakKeys() {
		d := DeviceIDFromPublicKey(weakKey(t, h))
		if _, err := ParseDeviceID(d.String()); !errors.Is(err, ErrWeakKey) {
			t.Errorf("ParseDeviceID accepted small-order key %s: %v", h, err)
		}
		if _, err := d.PublicKey(); !errors.Is(err, ErrWeakKey) {
			t.Errorf("DeviceID.PublicKey accepted small-order key %s: %v", h, err)
		}
		var u DeviceID
		if err := u.UnmarshalText([]byte(d.String())); !errors.Is(err, ErrInvalidID) {
			t.Errorf("DeviceID.UnmarshalText accepted small-order key %s: %v", h, err)
		}
	}
}

// refDecode decodes a point the long way (RFC 8032 §5.1.3, computing x),
// as an independent reference for checkPoint. ok is false for encodings
// RFC 8032 refuses.
func refDecode(enc []byte) (x, y *big.Int, ok bool) {
	be := slices.Clone(enc)
	sign := be[31] >> 7
	be[31] &= 0x7f
	slices.Reverse(be)
	y = new(big.Int).SetBytes(be)
	if y.Cmp(curveP) >= 0 {
		return nil, nil, false
	}
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Add(new(big.Int).Mul(curveD, y2), big.NewInt(1))
	x2 := new(big.Int).Mul(u, new(big.Int).ModInverse(v, curveP))
	x = new(big.Int).ModSqrt(x2.Mod(x2, curveP), curveP)
	switch {
	case x == nil, x.Sign() == 0 && sign == 1:
		return nil, nil, false
	case x.Bit(0) != uint(sign):
		x.Sub(curveP, x)
	}
	return x, y, true
}

// refDouble is 2·(x, y) by the complete addition law (RFC 8032 §5.1.4,
// affine, a = -1).
func refDouble(x, y *big.Int) (*big.Int, *big.Int) {
	p, one := curveP, big.NewInt(1)
	xy := new(big.Int).Mul(x, y)
	t := new(big.Int).Mul(curveD, xy)
	t.Mul(t, xy).Mod(t, p) // d·x²·y²
	nx := new(big.Int).Lsh(xy, 1)
	nx.Mul(nx, new(big.Int).ModInverse(new(big.Int).Add(one, t), p)).Mod(nx, p)
	ny := new(big.Int).Add(new(big.Int).Mul(y, y), new(big.Int).Mul(x, x))
	den := new(big.Int).Sub(one, t)
	ny.Mul(ny, new(big.Int).ModInverse(den.Mod(den, p), p)).Mod(ny, p)
	return nx, ny
}

// refOrder returns the order of a small-order point (1, 2, 4 or 8), or 0
// when 8·P is not the identity.
func refOrder(x, y *big.Int) int {
	for n := 1; n <= 8; n *= 2 {
		if x.Sign() == 0 && y.Cmp(big.NewInt(1)) == 0 {
			return n
		}
		x, y = refDouble(x, y)
	}
	return 0
}

// refCheck is CheckPublicKey computed the long way: decode, then 8·P.
func refCheck(enc []byte) bool {
	x, y, ok := refDecode(enc)
	return ok && refOrder(x, y) == 0
}

// TestTorsionKeysKnownAnswer checks the literature's list against the
// reference: each canonical torsion encoding decodes to a point of the
// stated order, and there are exactly 1, 1, 2 and 4 of orders 1, 2, 4, 8.
func TestTorsionKeysKnownAnswer(t *testing.T) {
	count := map[int]int{}
	for _, h := range torsionKeys {
		x, y, ok := refDecode(weakKey(t, h))
		if !ok {
			t.Fatalf("%s does not decode", h)
		}
		count[refOrder(x, y)]++
	}
	if count[1] != 1 || count[2] != 1 || count[4] != 2 || count[8] != 4 {
		t.Fatalf("orders of the torsion keys: %v", count)
	}
	for _, h := range nonCanonicalTorsionKeys {
		if _, _, ok := refDecode(weakKey(t, h)); ok {
			t.Errorf("%s decodes under RFC 8032 rules", h)
		}
	}
}

// TestCheckPublicKeyMatchesReference compares the fast check with the
// long way on random bytes (about half are not points), real keys, and
// small and large y of both signs.
func TestCheckPublicKeyMatchesReference(t *testing.T) {
	var inputs [][]byte
	for range 300 {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		inputs = append(inputs, b)
	}
	for i := range 50 {
		inputs = append(inputs, testDeviceKey(t, fmt.Sprint("ref ", i)).Public())
	}
	for y := int64(0); y < 40; y++ {
		for _, sign := range []byte{0, 0x80} {
			inputs = append(inputs, encodeY(big.NewInt(y), sign),
				encodeY(new(big.Int).Sub(curveP, big.NewInt(y)), sign))
		}
	}
	for _, b := range inputs {
		checkAgainstReference(t, b)
	}
}

func checkAgainstReference(t *testing.T, b []byte) {
	t.Helper()
	err := CheckPublicKey(b)
	if want := refCheck(b); (err == nil) != want {
		t.Fatalf("CheckPublicKey(%x) = %v, reference says acceptable = %v", b, err, want)
	}
	if err != nil && !errors.Is(err, ErrWeakKey) {
		t.Fatalf("CheckPublicKey(%x) = %v, want ErrWeakKey", b, err)
	}
}

func FuzzCheckPublicKey(f *testing.F) {
	for _, h := range allWeakKeys() {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Add([]byte(testDeviceKey(f, "fuzz").Public()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != ed25519.PublicKeySize {
			if !errors.Is(CheckPublicKey(b), ErrInvalidKey) {
				t.Fatalf("%d bytes not refused as ErrInvalidKey", len(b))
			}
			return
		}
		checkAgainstReference(t, b)
	})
}
