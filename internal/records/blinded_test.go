package records

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

// testPeriod is the period of testNow (03:04 UTC, away from a boundary).
var testPeriod = Period(testNow)

// blindFix is a signed account record of fixture account a and its
// blinded form for testPeriod.
func blindFix(t testing.TB) (a *account, inner, rec []byte) {
	t.Helper()
	a, _ = fixtures(t)
	inner, err := NewAccount(a.key, a.cert, a.devs, a.crl, 5, 20*24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	rec, err = NewBlindAccount(a.key, inner, testPeriod, uint64(testNow.UnixMilli()), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return a, inner, rec
}

// rawBlind boxes plain (as is, unpadded) under boxKey and signs the
// payload with the key of seed blinded (under blindKey) for p: a blinded
// record bypassing the checks of NewBlindAccount.
func rawBlind(tb testing.TB, k blindKind, seed, blindKey, boxKey []byte, p uint64, h header, plain []byte) []byte {
	tb.Helper()
	bk, err := crypto.NewBlindedKey(seed, blindKey, p)
	if err != nil {
		tb.Fatal(err)
	}
	prefix := encodeBlindPrefix(h, p)
	aead, err := boxAEAD(boxKey)
	if err != nil {
		tb.Fatal(err)
	}
	nonce := make([]byte, boxNonceLen)
	box := aead.Seal(nonce, nonce, plain, blindAD(bk.Public(), prefix))
	e := wire.NewEncoder(prefix)
	e.Bytes(box)
	return signBlindPayload(tb, k, seed, blindKey, p, e.Data())
}

// signBlindPayload signs an arbitrary payload with the blinded key.
func signBlindPayload(tb testing.TB, k blindKind, seed, blindKey []byte, p uint64, payload []byte) []byte {
	tb.Helper()
	bk, err := crypto.NewBlindedKey(seed, blindKey, p)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := bk.SignEnvelope(k.context, payload)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func mustBlindAccountKey(t testing.TB, pub ed25519.PublicKey, p uint64) string {
	t.Helper()
	key, err := BlindAccountKey(pub, p)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestBlindAccountRoundTrip(t *testing.T) {
	a, inner, rec := blindFix(t)
	key := mustBlindAccountKey(t, a.key.Public(), testPeriod)
	// A DHT server: validates without knowing the account.
	b, err := ParseBlindAccount(key, rec, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if b.Period != testPeriod || !b.Expires.Equal(PeriodEnd(testPeriod).Add(PeriodOverlap)) {
		t.Errorf("period %d expires %v", b.Period, b.Expires)
	}
	if err := Validator(func() time.Time { return testNow }).Validate(key, rec); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// A reader who knows the account's public key.
	acc, err := OpenBlindAccount(a.key.Public(), testPeriod, rec, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Cert.ID != a.key.ID() || acc.Seq != 5 || len(acc.Devices) != 2 || !bytes.Equal(acc.Raw, inner) {
		t.Fatalf("opened account %s seq %d with %d devices", acc.Cert.ID.Short(), acc.Seq, len(acc.Devices))
	}
	// What the server stores holds nothing that names the account.
	id := a.key.ID()
	for name, secret := range map[string][]byte{
		"account ID": id[:], "account public key": a.key.Public(),
		"device ID": []byte(a.devs[0].Device), "account certificate": a.cert.Raw()[:64],
	} {
		if bytes.Contains([]byte(key), secret) || bytes.Contains(rec, secret) {
			t.Errorf("the blinded record or its key contains the %s", name)
		}
	}
	// The padded size hides the exact inner size.
	if (len(b.Box)-boxNonceLen-boxTagLen)%blindAccountPad != 0 {
		t.Errorf("box plaintext of %d bytes is not padded", len(b.Box)-boxNonceLen-boxTagLen)
	}
}

func TestBlindPresenceRoundTrip(t *testing.T) {
	a, _ := fixtures(t)
	dk := a.devKeys[0]
	k := testSealKey()
	for name, mk := range map[string]func() ([]byte, error){
		"version 1": func() ([]byte, error) { return NewPresence(dk, a.key.ID(), fixAddrs, 3, time.Hour, testNow) },
		"version 2": func() ([]byte, error) {
			return NewSealedPresence(dk, a.key.ID(), fixRelays(), fixAddrs[:2], &k, 3, time.Hour, testNow)
		},
	} {
		t.Run(name, func(t *testing.T) {
			inner, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			rec, err := NewBlindPresence(dk, &k, inner, testPeriod, 7, testNow)
			if err != nil {
				t.Fatal(err)
			}
			key, err := BlindPresenceKey(dk.Public(), &k, testPeriod)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseBlindPresence(key, rec, testNow)
			if err != nil {
				t.Fatal(err)
			}
			// The inner record expires in an hour, before the period ends.
			if !b.Expires.Equal(testNow.Add(time.Hour)) {
				t.Errorf("expires %v, want the inner record's %v", b.Expires, testNow.Add(time.Hour))
			}
			if err := Validator(func() time.Time { return testNow }).Validate(key, rec); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			p, err := OpenBlindPresence(dk.ID(), &k, testPeriod, rec, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if p.Device != dk.ID() || p.Account != a.key.ID() || p.Seq != 3 {
				t.Fatalf("opened presence of %s, account %s, seq %d", p.Device.Short(), p.Account.Short(), p.Seq)
			}
			if addrs, err := p.Open(&k); err != nil || (p.Version == 2 && len(addrs) != 2) {
				t.Fatalf("inner sealed addresses: %d, %v", len(addrs), err)
			}
			id := a.key.ID()
			for _, secret := range [][]byte{id[:], []byte(dk.ID()), dk.Public(), k[:], fixAddrs[0].Bytes()} {
				if bytes.Contains(rec, secret) || bytes.Contains([]byte(key), secret) {
					t.Error("the blinded presence record or its key names the account, device, key or an address")
				}
			}
			// Without the presence key nobody finds or opens it.
			other := k
			other[0] ^= 1
			if _, err := OpenBlindPresence(dk.ID(), &other, testPeriod, rec, testNow); !errors.Is(err, ErrWrongSigner) {
				t.Errorf("opened with another presence key: %v", err)
			}
			if _, err := OpenBlindPresence(a.devKeys[1].ID(), &k, testPeriod, rec, testNow); !errors.Is(err, ErrWrongSigner) {
				t.Errorf("opened as another device's record: %v", err)
			}
		})
	}
}

// TestBlindUnlinkable: the records of one account in two periods share no
// key, no blinded key and no byte string longer than the fixed envelope
// head and the time fields' high bytes.
func TestBlindUnlinkable(t *testing.T) {
	a, inner, rec1 := blindFix(t)
	// Published in the last hour of testPeriod for the next period.
	later := PeriodEnd(testPeriod).Add(-30 * time.Minute)
	inner2, err := NewAccount(a.key, a.cert, a.devs, a.crl, 5, 20*24*time.Hour, testNow)
	if err != nil || !bytes.Equal(inner, inner2) {
		t.Fatal("inner records differ", err)
	}
	rec2, err := NewBlindAccount(a.key, inner, testPeriod+1, uint64(later.UnixMilli()), later)
	if err != nil {
		t.Fatal(err)
	}
	k1 := mustBlindAccountKey(t, a.key.Public(), testPeriod)
	k2 := mustBlindAccountKey(t, a.key.Public(), testPeriod+1)
	if k1 == k2 {
		t.Fatal("both periods have the same DHT key")
	}
	head := len("PE\x01") + 1 + len(BlindAccountContext)
	if n := longestCommon(rec1[head:], rec2[head:]); n >= 12 {
		t.Errorf("the two periods' records share a %d-byte string", n)
	}
	if n := longestCommon([]byte(k1), []byte(k2)); n >= 16 {
		t.Errorf("the two periods' keys share a %d-byte string", n)
	}
}

// longestCommon is the length of the longest common substring of a and b.
func longestCommon(a, b []byte) int {
	best := 0
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
				best = max(best, cur[j])
			} else {
				cur[j] = 0
			}
		}
		prev, cur = cur, prev
	}
	return best
}

func TestBlindAccountRejects(t *testing.T) {
	a, _, rec := blindFix(t)
	_, b := fixtures(t)
	pub := a.key.Public()
	key := mustBlindAccountKey(t, pub, testPeriod)
	boxKey, err := accountBoxKey(pub, testPeriod)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := NewAccount(a.key, a.cert, a.devs, a.crl, 5, 20*24*time.Hour, testNow)
	okHdr := header{Seq: 9, Expires: PeriodEnd(testPeriod)}
	raw := func(p uint64, h header, plain []byte) []byte {
		return rawBlind(t, blindAccount, a.key.Seed(), nil, boxKey, p, h, plain)
	}
	tampered := bytes.Clone(rec)
	tampered[len(tampered)-80] ^= 1
	for _, tc := range []struct {
		name string
		key  string
		data []byte
		now  time.Time
		err  error
	}{
		{"other namespace", AccountKey(a.key.ID()), rec, testNow, ErrBadKey},
		{"short key", "/" + BlindAccountNamespace + "/abc", rec, testNow, ErrBadKey},
		{"other blinded key", mustBlindAccountKey(t, b.key.Public(), testPeriod), rec, testNow, ErrWrongSigner},
		{"other period's key", mustBlindAccountKey(t, pub, testPeriod+1), rec, testNow, ErrWrongSigner},
		{"tampered", key, tampered, testNow, ErrBadSignature},
		{"too large", key, make([]byte, MaxBlindAccountRecordSize+1), testNow, ErrTooLarge},
		{"presence context", key, signBlindPayload(t, blindPresence, a.key.Seed(), nil, testPeriod, encodeBlindPrefix(okHdr, testPeriod)), testNow, ErrMalformed},
		{"expired", key, rec, PeriodEnd(testPeriod).Add(PeriodOverlap), ErrExpired},
		{"next period too early", mustBlindAccountKey(t, pub, testPeriod+1), raw(testPeriod+1, okHdr, padInner(good, blindAccountPad)), testNow, ErrBadPeriod},
		{"far period", mustBlindAccountKey(t, pub, 1<<62), raw(1<<62, okHdr, nil), testNow, ErrBadPeriod},
		{"expires after the period", key, raw(testPeriod, header{9, PeriodEnd(testPeriod).Add(PeriodOverlap + ClockSkew + time.Second)}, nil), testNow, ErrExpiryTooFar},
		{"seq ahead of the clock", key, raw(testPeriod, header{MaxSeq(testNow) + 1, PeriodEnd(testPeriod)}, nil), testNow, ErrSeqTooFar},
		{"box too short", key, signBlindPayload(t, blindAccount, a.key.Seed(), nil, testPeriod, append(encodeBlindPrefix(okHdr, testPeriod), 3, 1, 2, 3)), testNow, ErrMalformed},
		{"trailing bytes", key, signBlindPayload(t, blindAccount, a.key.Seed(), nil, testPeriod, append(encodeBlinded(&Blinded{Seq: 9, Expires: okHdr.Expires, Period: testPeriod, Box: make([]byte, 40)}), 0)), testNow, ErrMalformed},
		{"version 2", key, signBlindPayload(t, blindAccount, a.key.Seed(), nil, testPeriod, append([]byte{2}, encodeBlinded(&Blinded{Seq: 9, Expires: okHdr.Expires, Period: testPeriod, Box: make([]byte, 40)})[1:]...)), testNow, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBlindAccount(tc.key, tc.data, tc.now)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if verr := Validator(func() time.Time { return tc.now }).Validate(tc.key, tc.data); verr == nil {
				t.Fatal("the DHT validator accepts it")
			}
		})
	}
}

// TestOpenBlindAccountRejects: records a DHT server accepts but a reader
// refuses, because only the reader can look inside.
func TestOpenBlindAccountRejects(t *testing.T) {
	a, _, rec := blindFix(t)
	_, b := fixtures(t)
	pub := a.key.Public()
	boxKey, _ := accountBoxKey(pub, testPeriod)
	otherBox, _ := accountBoxKey(b.key.Public(), testPeriod)
	good, _ := NewAccount(a.key, a.cert, a.devs, a.crl, 5, 20*24*time.Hour, testNow)
	innerB, _ := NewAccount(b.key, b.cert, b.devs, b.crl, 5, 20*24*time.Hour, testNow)
	h := header{Seq: 9, Expires: PeriodEnd(testPeriod)}
	raw := func(boxKey, plain []byte) []byte {
		return rawBlind(t, blindAccount, a.key.Seed(), nil, boxKey, testPeriod, h, plain)
	}
	badPad := padInner(good, blindAccountPad)
	badPad[len(badPad)-1] = 1
	for _, tc := range []struct {
		name string
		pub  ed25519.PublicKey
		p    uint64
		data []byte
		err  error
	}{
		{"another account's record", b.key.Public(), testPeriod, rec, ErrWrongSigner},
		{"another period", pub, testPeriod - 1, rec, ErrWrongSigner},
		{"box under another key", pub, testPeriod, raw(otherBox, padInner(good, blindAccountPad)), ErrBoxOpen},
		{"padding not zero", pub, testPeriod, raw(boxKey, badPad), ErrBoxOpen},
		{"padding too long", pub, testPeriod, raw(boxKey, append(padInner(good, blindAccountPad), make([]byte, blindAccountPad)...)), ErrBoxOpen},
		{"empty box", pub, testPeriod, raw(boxKey, nil), ErrBoxOpen},
		{"inner record of another account", pub, testPeriod, raw(boxKey, padInner(innerB, blindAccountPad)), ErrWrongSigner},
		{"inner record is garbage", pub, testPeriod, raw(boxKey, padInner([]byte("not a record"), blindAccountPad)), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OpenBlindAccount(tc.pub, tc.p, tc.data, testNow); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
	// Such records are valid for a DHT server: only the reader, who can
	// look inside, refuses them.
	key := mustBlindAccountKey(t, pub, testPeriod)
	if _, err := ParseBlindAccount(key, raw(boxKey, padInner(good, blindAccountPad)), testNow); err != nil {
		t.Fatalf("the raw records above are valid for a server: %v", err)
	}
}

func TestNewBlindRefuses(t *testing.T) {
	a, inner, _ := blindFix(t)
	_, b := fixtures(t)
	k := testSealKey()
	pres, _ := NewPresence(a.devKeys[0], a.key.ID(), nil, 1, time.Hour, testNow)
	for _, tc := range []struct {
		name string
		err  error
		run  func() error
	}{
		{"another account's record", ErrWrongSigner, func() error {
			_, err := NewBlindAccount(b.key, inner, testPeriod, 1, testNow)
			return err
		}},
		{"a past period", ErrExpired, func() error {
			_, err := NewBlindAccount(a.key, inner, testPeriod-2, 1, testNow)
			return err
		}},
		{"another device's presence", ErrWrongSigner, func() error {
			_, err := NewBlindPresence(a.devKeys[1], &k, pres, testPeriod, 1, testNow)
			return err
		}},
		{"nil presence key", ErrMalformed, func() error {
			_, err := NewBlindPresence(a.devKeys[0], nil, pres, testPeriod, 1, testNow)
			return err
		}},
	} {
		if err := tc.run(); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
}

// TestBlindLargestRecordFits: an inner record of the largest allowed size
// boxes within MaxBlindAccountRecordSize (and presence likewise).
func TestBlindLargestRecordFits(t *testing.T) {
	for _, k := range []blindKind{blindAccount, blindPresence} {
		plain := padInner(make([]byte, k.maxInner), k.pad)
		h := header{Seq: ^uint64(0), Expires: time.Unix(1<<62, 0)}
		e := wire.NewEncoder(encodeBlindPrefix(h, ^uint64(0)))
		e.Bytes(make([]byte, boxNonceLen+len(plain)+boxTagLen))
		env := crypto.Envelope{Context: k.context, Signer: make([]byte, 32), Payload: e.Data(), Signature: make([]byte, 64)}
		if n := len(env.Marshal()); n > k.maxSize {
			t.Errorf("%s: largest record is %d bytes > %d", k.operation, n, k.maxSize)
		}
	}
}

// BenchmarkOpenBlindAccount is a reader's whole cost for one blinded
// account record: derive the key, verify, open, and validate the inner
// record (certificate chains included).
func BenchmarkOpenBlindAccount(b *testing.B) {
	a, _, rec := blindFix(b)
	for b.Loop() {
		if _, err := OpenBlindAccount(a.key.Public(), testPeriod, rec, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAccount is the same for the unblinded record, to compare.
func BenchmarkParseAccount(b *testing.B) {
	_, inner, _ := blindFix(b)
	a, _ := fixtures(b)
	key := AccountKey(a.key.ID())
	for b.Loop() {
		if _, err := ParseAccount(key, inner, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
