package records

import (
	"crypto/ed25519"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/parleyhq/parley/crypto"
)

// testNow is the fixed clock of these tests, so that every record (and the
// checked-in fuzz seeds) is deterministic.
var testNow = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)

// account is a test account with its devices.
type account struct {
	key     *crypto.AccountKey
	cert    *crypto.AccountCert
	devKeys []*crypto.DeviceKey
	devs    []*crypto.DeviceCert
	// revoked is an extra device whose serial crl revokes.
	revoked *crypto.DeviceCert
	crl     *crypto.CRL
}

var (
	fixOnce  sync.Once
	fixA     *account // the main account
	fixB     *account // another account
	fixErr   error
	fixAddrs []ma.Multiaddr
)

// fixtures returns two deterministic accounts, each with two devices, a
// revoked third device and a CRL.
func fixtures(tb testing.TB) (a, b *account) {
	tb.Helper()
	fixOnce.Do(func() {
		if fixA, fixErr = newAccount(1); fixErr != nil {
			return
		}
		if fixB, fixErr = newAccount(2); fixErr != nil {
			return
		}
		for _, s := range []string{"/ip4/192.0.2.1/udp/4001/quic-v1", "/ip4/192.0.2.1/tcp/4001",
			"/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWLFZt1hkJ3uvG8k4XRwyxkeoEmHAyasdNxDrXqNmKTtf8/p2p-circuit"} {
			fixAddrs = append(fixAddrs, ma.StringCast(s))
		}
	})
	if fixErr != nil {
		tb.Fatal(fixErr)
	}
	return fixA, fixB
}

func seed(b byte) []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = b
	}
	return s
}

func newAccount(n byte) (*account, error) {
	rng := rand.NewChaCha8([32]byte{n})
	opts := crypto.CertOptions{NotBefore: testNow.AddDate(0, 0, -30), NotAfter: testNow.AddDate(5, 0, 0), Rand: rng}
	a := &account{}
	var err error
	if a.key, err = crypto.AccountKeyFromSeed(seed(n)); err != nil {
		return nil, err
	}
	if a.cert, err = crypto.CreateAccountCert(a.key, "", opts); err != nil {
		return nil, err
	}
	for i := range byte(3) {
		dk, err := crypto.DeviceKeyFromSeed(seed(n*16 + i + 1))
		if err != nil {
			return nil, err
		}
		dc, err := crypto.IssueDeviceCert(a.key, a.cert, dk.Public(), "", opts)
		if err != nil {
			return nil, err
		}
		if i == 2 {
			a.revoked = dc
			break
		}
		a.devKeys = append(a.devKeys, dk)
		a.devs = append(a.devs, dc)
	}
	a.crl, err = crypto.CreateCRL(a.key, a.cert, nil, []*big.Int{a.revoked.Serial()}, testNow.Add(-time.Minute))
	return a, err
}

// issue makes one more device certificate of a with the given validity.
func (a *account) issue(tb testing.TB, n byte, notBefore, notAfter time.Time) *crypto.DeviceCert {
	tb.Helper()
	dk, err := crypto.DeviceKeyFromSeed(seed(200 + n))
	if err != nil {
		tb.Fatal(err)
	}
	dc, err := crypto.IssueDeviceCert(a.key, a.cert, dk.Public(), "",
		crypto.CertOptions{NotBefore: notBefore, NotAfter: notAfter, Rand: rand.NewChaCha8([32]byte{n, 9})})
	if err != nil {
		tb.Fatal(err)
	}
	return dc
}

func (a *account) priv() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(a.key.Seed()) }

// rawAccount signs an arbitrary account payload, bypassing NewAccount's checks.
func rawAccount(tb testing.TB, signer ed25519.PrivateKey, h header, ac *crypto.AccountCert, devs []*crypto.DeviceCert, crl *crypto.CRL) []byte {
	tb.Helper()
	return signRaw(tb, signer, AccountContext, encodeAccount(h, ac, devs, crl, nil))
}

// rawPresence signs an arbitrary presence payload.
func rawPresence(tb testing.TB, signer ed25519.PrivateKey, h header, acct crypto.AccountID, addrs []ma.Multiaddr) []byte {
	tb.Helper()
	return signRaw(tb, signer, PresenceContext, encodePresence(h, acct, addrs))
}

func signRaw(tb testing.TB, signer ed25519.PrivateKey, context string, payload []byte) []byte {
	tb.Helper()
	data, err := crypto.SignEnvelope(signer, context, payload)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// hdr is a header expiring ttl after testNow.
func hdr(seq uint64, ttl time.Duration) header {
	return header{Seq: seq, Expires: expiry(testNow, ttl)}
}
