package callproto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
)

// testNow is the fixed clock of these tests, so that messages (and the
// checked-in fuzz seeds) are deterministic.
var testNow = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)

// device is one device of a test account.
type device struct {
	key  *crypto.DeviceKey
	cert *crypto.DeviceCert
}

// account is a test account with devices in every state.
type account struct {
	key  *crypto.AccountKey
	cert *crypto.AccountCert
	// dev and dev2 are valid devices.
	dev, dev2 device
	// revoked is valid by date but listed on crl.
	revoked device
	// expired ended a day before testNow; future starts a day after.
	expired, future device
	crl             *crypto.CRL
}

func (a *account) id() crypto.AccountID { return a.key.ID() }

var (
	fixOnce sync.Once
	fixA    *account // the caller's account
	fixB    *account // the callee's account
	fixErr  error
)

// fixtures returns two deterministic accounts.
func fixtures(tb testing.TB) (a, b *account) {
	tb.Helper()
	fixOnce.Do(func() {
		if fixA, fixErr = newAccount(1); fixErr != nil {
			return
		}
		fixB, fixErr = newAccount(2)
	})
	if fixErr != nil {
		tb.Fatal(fixErr)
	}
	return fixA, fixB
}

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func newAccount(n byte) (*account, error) {
	rng := rand.NewChaCha8([32]byte{n})
	a := &account{}
	var err error
	if a.key, err = crypto.AccountKeyFromSeed(fill(n, 32)); err != nil {
		return nil, err
	}
	opts := crypto.CertOptions{NotBefore: testNow.AddDate(0, 0, -30), NotAfter: testNow.AddDate(5, 0, 0), Rand: rng}
	if a.cert, err = crypto.CreateAccountCert(a.key, "", opts); err != nil {
		return nil, err
	}
	devs := []struct {
		d        *device
		from, to time.Time
	}{
		{&a.dev, opts.NotBefore, opts.NotAfter},
		{&a.dev2, opts.NotBefore, opts.NotAfter},
		{&a.revoked, opts.NotBefore, opts.NotAfter},
		{&a.expired, opts.NotBefore, testNow.AddDate(0, 0, -1)},
		{&a.future, testNow.AddDate(0, 0, 1), opts.NotAfter},
	}
	for i, d := range devs {
		if d.d.key, err = crypto.DeviceKeyFromSeed(fill(n*16+byte(i)+1, 32)); err != nil {
			return nil, err
		}
		o := crypto.CertOptions{NotBefore: d.from, NotAfter: d.to, Rand: rng}
		if d.d.cert, err = crypto.IssueDeviceCert(a.key, a.cert, d.d.key.Public(), "", o); err != nil {
			return nil, err
		}
	}
	a.crl, err = crypto.CreateCRL(a.key, a.cert, nil, []*big.Int{a.revoked.cert.Serial()}, testNow.Add(-time.Hour))
	return a, err
}

// testMedia is a typical audio + video description.
func testMedia(ssrc uint32) []MediaDesc {
	return []MediaDesc{
		{Kind: KindAudio, Codec: "opus", ClockRate: 48000, Channels: 2, PayloadType: 111, SSRC: ssrc},
		{Kind: KindVideo, Codec: "VP8", ClockRate: 90000, PayloadType: 96, SSRC: ssrc + 1},
	}
}

// fixedReader returns a deterministic randomness source for key material.
func fixedReader(seed byte) *rand.ChaCha8 { return rand.NewChaCha8([32]byte{seed, 0xca}) }

// testCallerKeys are deterministic caller keys.
func testCallerKeys(tb testing.TB, seed byte) *CallerKeys {
	tb.Helper()
	k, err := newCallerKeys(fixedReader(seed))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// newTestOffer is a valid offer from a's device d to b at t.
func newTestOffer(a *account, d device, b *account, k *CallerKeys, t time.Time) *Offer {
	o := &Offer{
		CallID:      CallID{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10},
		Time:        t,
		From:        a.id(),
		To:          b.id(),
		AccountCert: a.cert.Raw(),
		DeviceCert:  d.cert.Raw(),
		ICEUfrag:    "AbCdEfGhIjKlMnOp",
		ICEPwd:      "abcdefghijklmnopqrstuvwxyz012345",
		Media:       testMedia(1000),
	}
	k.FillOffer(o)
	return o
}

// testEncapWith is derandomised ML-KEM encapsulation (FIPS 203
// ML-KEM.Encaps_internal) with the given 32 random bytes.
func testEncapWith(random []byte) encapsulateFunc {
	return func(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
		return mlkemtest.Encapsulate768(ek, random)
	}
}

// newTestAnswer answers the signed offer o from b's device d at t, with
// deterministic key shares.
func newTestAnswer(tb testing.TB, signedOffer []byte, o *Offer, b *account, d device, t time.Time) (*Answer, *CalleeSecrets) {
	tb.Helper()
	x, ct, sec, err := calleeAgree(fixedReader(7), testEncapWith(fill(9, 32)), o.X25519, o.MLKEMEncapKey)
	if err != nil {
		tb.Fatal(err)
	}
	return &Answer{
		CallID:          o.CallID,
		Time:            t,
		OfferHash:       OfferHash(signedOffer),
		AccountCert:     b.cert.Raw(),
		DeviceCert:      d.cert.Raw(),
		X25519:          x,
		MLKEMCiphertext: ct,
		ICEUfrag:        "QrStUvWxYz01",
		ICEPwd:          "ZYXWVUTSRQPONMLKJIHGFEDCBA9876",
		Media:           testMedia(2000),
	}, sec
}

// signedPair returns a valid signed offer (A's dev to B) and a valid signed
// answer (B's dev) at testNow, with the parsed structs and the secrets.
type pair struct {
	offer, answer    []byte
	o                *Offer
	a                *Answer
	caller           *CallerKeys
	callee           *CalleeSecrets
	callerA, calleeB *account
}

func signedPair(tb testing.TB) *pair {
	tb.Helper()
	a, b := fixtures(tb)
	p := &pair{callerA: a, calleeB: b, caller: testCallerKeys(tb, 1)}
	p.o = newTestOffer(a, a.dev, b, p.caller, testNow)
	p.offer = mustSign(tb)(SignOffer(a.dev.key, p.o))
	p.a, p.callee = newTestAnswer(tb, p.offer, p.o, b, b.dev, testNow.Add(2*time.Second))
	p.answer = mustSign(tb)(SignAnswer(b.dev.key, p.a))
	return p
}

// mustSign returns a function that fails the test on a signing error:
// mustSign(t)(SignOffer(dk, o)).
func mustSign(tb testing.TB) func([]byte, error) []byte {
	return func(data []byte, err error) []byte {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
}

// signRaw signs any payload, bypassing the Sign* checks.
func signRaw(tb testing.TB, dk *crypto.DeviceKey, context string, payload []byte) []byte {
	tb.Helper()
	priv := dk.Ed25519()
	defer clear(priv)
	data, err := crypto.SignEnvelope(priv, context, payload)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func pub(d device) ed25519.PublicKey { return d.key.Public() }
