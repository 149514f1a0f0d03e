package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"strings"
	"testing"
)

// Fuzz targets for every decoder of untrusted bytes. Each has a checked-in
// seed corpus under testdata/fuzz/<name>/ as well as the f.Add seeds below;
// run one with e.g. go test -run=NONE -fuzz=FuzzOpen -fuzztime=30s.

func FuzzParseAccountID(f *testing.F) {
	f.Add(katAccountID)
	f.Add(strings.ToUpper(katAccountID[7:]))
	f.Add("parley1-qqqq qqqq")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseAccountID(s)
		if err != nil {
			return
		}
		c := id.String()
		back, err := ParseAccountID(c)
		if err != nil || back != id {
			t.Fatalf("canonical form %q of %q does not parse back: %v", c, s, err)
		}
		if !strings.EqualFold(strings.Map(dropSeparators, s), c) && !strings.EqualFold("parley1"+strings.Map(dropSeparators, s), c) {
			t.Fatalf("%q parsed to %q, which is not the same ID text", s, c)
		}
	})
}

func dropSeparators(r rune) rune {
	if strings.ContainsRune(idSeparators, r) {
		return -1
	}
	return r
}

func FuzzParseDeviceID(f *testing.F) {
	f.Add(katDeviceID)
	f.Add(" " + katDeviceID + "\n")
	f.Add("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDeviceID(s)
		if err != nil {
			return
		}
		if d.String() != strings.TrimSpace(s) {
			t.Fatalf("%q parsed to %q", s, d)
		}
		pub, err := d.PublicKey()
		if err != nil || DeviceIDFromPublicKey(pub) != d {
			t.Fatalf("public key round trip: %v", err)
		}
	})
}

func FuzzParseAccountCert(f *testing.F) {
	_, ac := testAccount(f, "alice")
	f.Add(ac.Raw())
	f.Fuzz(func(t *testing.T, der []byte) {
		ac, err := ParseAccountCert(der)
		if err != nil {
			return
		}
		back, err := ParseAccountCert(ac.Raw())
		if err != nil || back.ID != ac.ID || back.Name != ac.Name {
			t.Fatalf("reparse: %v", err)
		}
		if AccountIDFromPublicKey(ac.Cert.PublicKey.(ed25519.PublicKey)) != ac.ID {
			t.Fatal("ID not derived from key")
		}
	})
}

func FuzzParseDeviceCert(f *testing.F) {
	ak, ac := testAccount(f, "alice")
	_, dc := testDevice(f, ak, ac, "phone")
	f.Add(dc.Raw())
	f.Fuzz(func(t *testing.T, der []byte) {
		dc, err := ParseDeviceCert(der)
		if err != nil {
			return
		}
		back, err := ParseDeviceCert(dc.Raw())
		if err != nil || back.Device != dc.Device || back.Account != dc.Account || back.Name != dc.Name {
			t.Fatalf("reparse: %v", err)
		}
		// Structure only: verifying against an unrelated account must fail.
		if VerifyDevice(ak.ID(), ac, dc, nil, testEpoch) == nil && dc.Account != ak.ID() {
			t.Fatal("foreign device certificate verified")
		}
	})
}

func FuzzParseCRL(f *testing.F) {
	ak, ac := testAccount(f, "alice")
	c, err := CreateCRL(ak, ac, nil, nil, testEpoch)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Raw())
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := ParseCRL(der)
		if err != nil {
			return
		}
		back, err := ParseCRL(c.Raw())
		if err != nil || back.Number.Cmp(c.Number) != 0 || back.Account != c.Account {
			t.Fatalf("reparse: %v", err)
		}
		_ = c.IsRevoked(c.Number)
		_ = c.Verify(ac)
	})
}

// cheapKDF reports whether a sealed blob's header asks for cheap enough
// argon2id parameters to run inside a fuzzer; Open's own bounds (1 GiB)
// are safe but too slow for millions of executions.
func cheapKDF(b []byte) bool {
	if len(b) < 18 {
		return true
	}
	return binary.BigEndian.Uint32(b[9:]) <= 2 && binary.BigEndian.Uint32(b[13:]) <= 1024
}

func FuzzOpen(f *testing.F) {
	salt, nonce := katSaltNonce()
	kat, err := seal(magicSeal, katPassphrase, katPlaintext, TestKDFParams, salt, nonce)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(kat)
	f.Add(kat[:sealPrefixLen])
	f.Fuzz(func(t *testing.T, data []byte) {
		if !cheapKDF(data) {
			return
		}
		pt, err := Open(katPassphrase, data)
		if err != nil {
			return
		}
		again, err := Seal(katPassphrase, pt, TestKDFParams)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Open(katPassphrase, again)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("reseal round trip: %v", err)
		}
	})
}

func FuzzDecryptArchive(f *testing.F) {
	data, err := minimalArchive(f).Encrypt([]byte("pw"), TestKDFParams)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !cheapKDF(data) {
			return
		}
		a, err := DecryptArchive(data, []byte("pw"))
		if err != nil {
			return
		}
		again, err := a.Encrypt([]byte("pw"), TestKDFParams)
		if err != nil {
			t.Fatalf("re-encrypt of a valid archive: %v", err)
		}
		if _, err := DecryptArchive(again, []byte("pw")); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	k := testAccountKey(f, "env")
	for _, p := range []string{"", "payload"} {
		e, err := SignEnvelope(k.k, envCtx, []byte(p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data, 4096)
		if err != nil {
			return
		}
		m := e.Marshal()
		if !bytes.Equal(m, data) {
			t.Fatalf("Marshal is not byte-identical:\n got %x\nwant %x", m, data)
		}
		e2, err := ParseEnvelope(m, 4096)
		if err != nil || e2.Context != e.Context || !bytes.Equal(e2.Payload, e.Payload) {
			t.Fatalf("reparse: %v", err)
		}
		// Verification may fail, but must agree with Verify.
		_, oerr := OpenEnvelope(data, e.Context, 4096)
		verr := Verify(e.Signer, e.Context, data[:len(data)-64], e.Signature)
		if (oerr == nil) != (verr == nil) {
			t.Fatalf("OpenEnvelope %v, Verify %v", oerr, verr)
		}
	})
}

// FuzzBlindPublicKey: any 32 bytes and period either are refused or blind
// to a key CheckPublicKey accepts, keyed and unkeyed alike.
func FuzzBlindPublicKey(f *testing.F) {
	f.Add([]byte(ed25519.NewKeyFromSeed(blindKATSeed()).Public().(ed25519.PublicKey)), uint64(20000), make([]byte, BlindKeyLen))
	f.Add(make([]byte, 32), uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, pub []byte, period uint64, key []byte) {
		for _, k := range [][]byte{nil, key} {
			var b ed25519.PublicKey
			var err error
			if k == nil {
				b, err = BlindPublicKey(pub, period)
			} else {
				b, err = BlindPublicKeyKeyed(pub, k, period)
			}
			if err != nil {
				continue
			}
			if CheckPublicKey(pub) != nil {
				t.Fatal("blinded a key CheckPublicKey refuses")
			}
			if err := CheckPublicKey(b); err != nil {
				t.Fatalf("blinded key refused: %v", err)
			}
		}
	})
}
