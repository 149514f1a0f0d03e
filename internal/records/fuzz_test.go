package records

import (
	"bytes"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

// The fuzz targets take one byte string and use it twice: as a whole record
// (exercising the envelope and signature checks) and as a payload that the
// target signs with the test account's or device's key, so that the payload
// decoder and the certificate, CRL and address checks behind the signature
// are reached too. Whatever parses must re-encode to the same payload and
// parse again to the same record.

func FuzzParseAccount(f *testing.F) {
	a, _ := fixtures(f)
	good, err := NewAccount(a.key, a.cert, a.devs, a.crl, 1, time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(encodeAccount(hdr(2, time.Hour), a.cert, a.devs[:1], nil, nil))
	f.Add(encodeAccount(hdr(3, time.Hour), a.cert, a.devs, a.crl, nil))
	withAdmins, err := NewAccountRecord(a.key, a.cert, a.devs, []crypto.DeviceID{a.devs[0].Device}, a.crl, 4, time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withAdmins)
	key := AccountKey(a.key.ID())
	f.Fuzz(func(t *testing.T, data []byte) {
		if acc, err := ParseAccount(key, data, testNow); err == nil {
			checkAccountRoundTrip(t, key, data, acc)
		}
		if len(data) > MaxAccountRecordSize {
			return
		}
		signed := signRaw(t, a.priv(), AccountContext, data)
		acc, err := ParseAccount(key, signed, testNow)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeAccount(header{acc.Seq, acc.Expires}, acc.Cert, acc.Devices, acc.CRL, acc.Admins), data) {
			t.Fatal("accepted payload does not re-encode to itself")
		}
		checkAccountRoundTrip(t, key, signed, acc)
	})
}

func checkAccountRoundTrip(t *testing.T, key string, data []byte, acc *Account) {
	t.Helper()
	if len(data) > MaxAccountRecordSize || len(acc.Devices) > MaxDevices {
		t.Fatalf("accepted a record beyond the bounds: %d bytes, %d devices", len(data), len(acc.Devices))
	}
	again, err := ParseAccount(key, data, testNow)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	if again.Seq != acc.Seq || !again.Expires.Equal(acc.Expires) || len(again.Devices) != len(acc.Devices) {
		t.Fatal("re-parse differs")
	}
	if err := Validator(func() time.Time { return testNow }).Validate(key, data); err != nil {
		t.Fatalf("Validate rejects what ParseAccount accepts: %v", err)
	}
}

func FuzzParsePresence(f *testing.F) {
	a, _ := fixtures(f)
	dk := a.devKeys[0]
	good, err := NewPresence(dk, a.key.ID(), fixAddrs, 1, time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(encodePresence(hdr(2, time.Hour), a.key.ID(), fixAddrs))
	f.Add(encodePresence(hdr(3, time.Hour), a.key.ID(), nil))
	sk := testSealKey()
	sealed, err := NewSealedPresence(dk, a.key.ID(), fixRelays(), fixAddrs, &sk, 4, time.Hour, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(encodeSealedPresence(&Presence{Account: a.key.ID(), Seq: 5, Expires: testNow.Add(time.Hour).Truncate(time.Second), Addrs: fixRelays(), KeyID: sk.ID(), Sealed: make([]byte, 40)}))
	key := PresenceKey(dk.ID())
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := ParsePresence(key, data, testNow); err == nil {
			checkPresenceRoundTrip(t, key, data, p)
		}
		if len(data) > MaxPresenceRecordSize {
			return
		}
		signed := signRaw(t, dk.Ed25519(), PresenceContext, data)
		p, err := ParsePresence(key, signed, testNow)
		if err != nil {
			return
		}
		if !bytes.Equal(reencodePresence(p), data) {
			t.Fatal("accepted payload does not re-encode to itself")
		}
		checkPresenceRoundTrip(t, key, signed, p)
		// A sealed record's box opens only with its key, and never to
		// more than the bounds.
		if addrs, err := p.Open(&sk); err == nil && len(addrs) > MaxAddrs {
			t.Fatalf("opened %d addresses", len(addrs))
		}
	})
}

// FuzzOpenSealedPresence seals arbitrary bytes under the key, as a device
// holding it could, and opens them: the address list decoder behind the
// box never panics and keeps its bounds.
func FuzzOpenSealedPresence(f *testing.F) {
	a, _ := fixtures(f)
	dk := a.devKeys[0]
	f.Add([]byte{0})
	f.Add([]byte{1, 2, 0x04, 0x7f})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	sk := testSealKey()
	f.Fuzz(func(t *testing.T, plain []byte) {
		if len(plain) > MaxPresenceRecordSize/2 {
			return
		}
		h := header{Seq: 1, Expires: testNow.Add(time.Hour).Truncate(time.Second)}
		ad := encodeSealedPrefix(h, a.key.ID(), nil, sk.ID())
		aead, err := presenceAEAD(&sk)
		if err != nil {
			t.Fatal(err)
		}
		nonce := make([]byte, presenceNonceLen)
		box := aead.Seal(nonce, nonce, plain, ad)
		e := wire.NewEncoder(bytes.Clone(ad))
		e.Bytes(box)
		p, err := ParsePresence(PresenceKey(dk.ID()), signRaw(t, dk.Ed25519(), PresenceContext, e.Data()), testNow)
		if err != nil {
			t.Fatalf("a well-formed sealed record is refused: %v", err)
		}
		addrs, err := p.Open(&sk)
		if err == nil && len(addrs) > MaxAddrs {
			t.Fatalf("opened %d addresses", len(addrs))
		}
	})
}

// reencodePresence encodes a parsed payload of either version.
func reencodePresence(p *Presence) []byte {
	if p.Version == presenceVersion2 {
		return encodeSealedPresence(p)
	}
	return encodePresence(header{p.Seq, p.Expires}, p.Account, p.Addrs)
}

func checkPresenceRoundTrip(t *testing.T, key string, data []byte, p *Presence) {
	t.Helper()
	if len(data) > MaxPresenceRecordSize || len(p.Addrs) > MaxAddrs || p.Account.IsZero() {
		t.Fatalf("accepted a record beyond the bounds: %d bytes, %d addrs", len(data), len(p.Addrs))
	}
	again, err := ParsePresence(key, data, testNow)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	if again.Seq != p.Seq || again.Account != p.Account || len(again.Addrs) != len(p.Addrs) || again.Version != p.Version || !bytes.Equal(again.Sealed, p.Sealed) {
		t.Fatal("re-parse differs")
	}
	for i := range p.Addrs {
		if !again.Addrs[i].Equal(p.Addrs[i]) {
			t.Fatalf("address %d differs after re-parse", i)
		}
	}
	if err := Validator(func() time.Time { return testNow }).Validate(key, data); err != nil {
		t.Fatalf("Validate rejects what ParsePresence accepts: %v", err)
	}
}
