package records

import (
	"bytes"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
)

// Fuzz targets of the blinded records, in the pattern of fuzz_test.go: the
// input is tried as a whole record and as a payload signed by the blinded
// key, so the decoder behind the signature is reached; FuzzOpenBlindBox
// seals its input under the right box key, as the account's holder could,
// to reach the padding and the inner record's parser. Each execution signs
// (and FuzzOpenBlindBox verifies certificates), so run them with a short
// -fuzzminimizetime (3s): the default minute per new input stalls them.

func FuzzParseBlindAccount(f *testing.F) {
	a, _, rec := blindFix(f)
	f.Add(rec)
	f.Add(encodeBlinded(&Blinded{Seq: 9, Expires: PeriodEnd(testPeriod), Period: testPeriod, Box: make([]byte, 40)}))
	f.Add(encodeBlinded(&Blinded{Seq: 9, Expires: PeriodEnd(testPeriod + 1), Period: testPeriod + 1, Box: make([]byte, 28)}))
	fuzzBlinded(f, blindAccount, a.key.Seed(), nil, mustBlindAccountKey(f, a.key.Public(), testPeriod), ParseBlindAccount)
}

func FuzzParseBlindPresence(f *testing.F) {
	a, _ := fixtures(f)
	dk := a.devKeys[0]
	k := testSealKey()
	inner, err := NewPresence(dk, a.key.ID(), fixAddrs, 1, time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	rec, err := NewBlindPresence(dk, &k, inner, testPeriod, 2, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(encodeBlinded(&Blinded{Seq: 9, Expires: testNow.Add(time.Hour), Period: testPeriod, Box: make([]byte, 40)}))
	key, err := BlindPresenceKey(dk.Public(), &k, testPeriod)
	if err != nil {
		f.Fatal(err)
	}
	fuzzBlinded(f, blindPresence, dk.Seed(), k[:], key, ParseBlindPresence)
}

func fuzzBlinded(f *testing.F, k blindKind, seed, blindKey []byte, key string, parse func(string, []byte, time.Time) (*Blinded, error)) {
	check := func(t *testing.T, data []byte, b *Blinded) {
		if len(data) > k.maxSize || len(b.Box) < boxNonceLen+boxTagLen {
			t.Fatalf("accepted a record beyond the bounds: %d bytes, box %d", len(data), len(b.Box))
		}
		if err := checkPeriod(b.Period, b.Expires, testNow); err != nil || !b.Expires.After(testNow) {
			t.Fatalf("accepted period %d expiring %v", b.Period, b.Expires)
		}
		again, err := parse(key, data, testNow)
		if err != nil || again.Seq != b.Seq || again.Period != b.Period || !bytes.Equal(again.Box, b.Box) {
			t.Fatalf("re-parse differs: %v", err)
		}
		if err := Validator(func() time.Time { return testNow }).Validate(key, data); err != nil {
			t.Fatalf("Validate rejects what the parser accepts: %v", err)
		}
	}
	bk, err := crypto.NewBlindedKey(seed, blindKey, testPeriod)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := parse(key, data, testNow); err == nil {
			check(t, data, b)
		}
		if len(data) > k.maxSize {
			return
		}
		signed, err := bk.SignEnvelope(k.context, data)
		if err != nil {
			t.Fatal(err)
		}
		b, err := parse(key, signed, testNow)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeBlinded(b), data) {
			t.Fatal("accepted payload does not re-encode to itself")
		}
		check(t, signed, b)
	})
}

// FuzzOpenBlindBox: whatever the box holds, OpenBlindAccount and
// OpenBlindPresence do not panic, and what they accept is a valid inner
// record within the bounds.
func FuzzOpenBlindBox(f *testing.F) {
	a, inner, _ := blindFix(f)
	dk := a.devKeys[0]
	sk := testSealKey()
	f.Add(padInner(inner, blindAccountPad))
	f.Add(padInner([]byte("x"), blindPresencePad))
	f.Add([]byte{0xff, 0xff, 0x03})
	pres, err := NewPresence(dk, a.key.ID(), fixAddrs, 1, time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(padInner(pres, blindPresencePad))
	accBox, _ := accountBoxKey(a.key.Public(), testPeriod)
	presBox, _ := presenceBoxKey(&sk, dk.Public(), testPeriod)
	h := header{Seq: 9, Expires: PeriodEnd(testPeriod)}
	f.Fuzz(func(t *testing.T, plain []byte) {
		if len(plain) > MaxAccountRecordSize {
			return
		}
		rec := rawBlind(t, blindAccount, a.key.Seed(), nil, accBox, testPeriod, h, plain)
		if acc, err := OpenBlindAccount(a.key.Public(), testPeriod, rec, testNow); err == nil {
			if acc.Cert.ID != a.key.ID() || len(acc.Devices) > MaxDevices {
				t.Fatal("opened a record of another account or beyond the bounds")
			}
		}
		if len(plain) > MaxPresenceRecordSize {
			return
		}
		rec = rawBlind(t, blindPresence, dk.Seed(), sk[:], presBox, testPeriod, h, plain)
		if p, err := OpenBlindPresence(dk.ID(), &sk, testPeriod, rec, testNow); err == nil {
			if p.Device != dk.ID() || len(p.Addrs) > MaxAddrs {
				t.Fatal("opened a presence record of another device or beyond the bounds")
			}
		}
	})
}
