package crypto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

var (
	katPassphrase = []byte("correct horse battery staple")
	katPlaintext  = []byte("hello, parley")
)

func katSaltNonce() (salt [sealSaltLen]byte, nonce [sealNonceLen]byte) {
	for i := range salt {
		salt[i] = byte(i)
	}
	for i := range nonce {
		nonce[i] = byte(0x10 + i)
	}
	return salt, nonce
}

// katSealed is seal(magicSeal, katPassphrase, katPlaintext, TestKDFParams,
// salt 00..0f, nonce 10..27), computed once and checked in. It was
// cross-checked with an independent implementation (Python "cryptography"
// Argon2id and ChaCha20Poly1305 with a hand-written HChaCha20).
const katSealed = "" +
	"50524c595345414c" + // magic "PRLYSEAL"
	"01" + // version
	"00000001" + "00000040" + "01" + // argon2id t=1, m=64 KiB, p=1
	"000102030405060708090a0b0c0d0e0f" + // salt
	"101112131415161718191a1b1c1d1e1f2021222324252627" + // nonce
	"b16f34bb126bc3d08c3c52cc216f33d4de08394aabe28e43ff2fa29f2bef10ca" + // verifier
	"111bba04f41c0703adb16326de" + // ciphertext
	"ac02f413285ee5ef9cbc87dc9cb78d8d" // Poly1305 tag

func TestSealKnownAnswer(t *testing.T) {
	salt, nonce := katSaltNonce()
	got, err := seal(magicSeal, katPassphrase, katPlaintext, TestKDFParams, salt, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got); h != katSealed {
		t.Fatalf("sealed\n got %s\nwant %s", h, katSealed)
	}
	pt, err := Open(katPassphrase, got)
	if err != nil || !bytes.Equal(pt, katPlaintext) {
		t.Fatalf("Open = %q, %v", pt, err)
	}
}

func TestSealRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		pass, msg []byte
		p         KDFParams
	}{
		{"empty plaintext", []byte("pw"), nil, TestKDFParams},
		{"empty passphrase", nil, []byte("secret"), TestKDFParams},
		{"larger", []byte("pw"), bytes.Repeat([]byte("x"), 10000), KDFParams{Time: 2, MemoryKiB: 256, Threads: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s1, err := Seal(tc.pass, tc.msg, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := Seal(tc.pass, tc.msg, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(s1[18:sealHeaderLen], s2[18:sealHeaderLen]) {
				t.Fatal("salt and nonce repeat across calls")
			}
			if len(s1) != sealOverhead+len(tc.msg) {
				t.Fatalf("length %d, want %d", len(s1), sealOverhead+len(tc.msg))
			}
			got, err := Open(tc.pass, s1)
			if err != nil || !bytes.Equal(got, tc.msg) {
				t.Fatalf("Open = %q, %v", got, err)
			}
			_, err = Open(append(bytes.Clone(tc.pass), 'x'), s1)
			wantErr(t, err, ErrWrongPassphrase)
		})
	}
}

func TestSealDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB argon2id run skipped in -short mode")
	}
	s, err := Seal([]byte("pw"), []byte("m"), DefaultKDFParams)
	if err != nil {
		t.Fatal(err)
	}
	if got := s[9:18]; !bytes.Equal(got, mustHex("00000003"+"00010000"+"04")) {
		t.Fatalf("header params = %x", got)
	}
	if m, err := Open([]byte("pw"), s); err != nil || string(m) != "m" {
		t.Fatalf("Open = %q, %v", m, err)
	}
}

func TestSealRejectsBadParams(t *testing.T) {
	tests := []struct {
		name string
		p    KDFParams
	}{
		{"zero", KDFParams{}},
		{"time 0", KDFParams{Time: 0, MemoryKiB: 64, Threads: 1}},
		{"time too big", KDFParams{Time: MaxKDFTime + 1, MemoryKiB: 64, Threads: 1}},
		{"threads 0", KDFParams{Time: 1, MemoryKiB: 64, Threads: 0}},
		{"memory below 8*threads", KDFParams{Time: 1, MemoryKiB: 31, Threads: 4}},
		{"memory too big", KDFParams{Time: 1, MemoryKiB: MaxKDFMemoryKiB + 1, Threads: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Seal([]byte("pw"), []byte("m"), tc.p)
			wantErr(t, err, ErrInvalidKDFParams)
		})
	}
}

// withParams rewrites the KDF parameters in a sealed header.
func withParams(sealed []byte, time, mem uint32, threads uint8) []byte {
	c := bytes.Clone(sealed)
	binary.BigEndian.PutUint32(c[9:], time)
	binary.BigEndian.PutUint32(c[13:], mem)
	c[17] = threads
	return c
}

func TestOpenErrors(t *testing.T) {
	sealed, err := Seal([]byte("pw"), []byte("secret"), TestKDFParams)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := sealRandom(magicArchive, []byte("pw"), []byte("secret"), TestKDFParams)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"ok", sealed, nil},
		{"wrong passphrase", nil, ErrWrongPassphrase},
		{"version 2", flip(sealed, 8, 3), ErrUnsupportedVersion},
		{"version 0", flip(sealed, 8, 1), ErrUnsupportedVersion},
		{"archive magic", arch, ErrCorrupt},
		{"hostile memory 4 GiB", withParams(sealed, 1, 1<<22, 1), ErrCorrupt},
		{"hostile time", withParams(sealed, 1<<30, 64, 1), ErrCorrupt},
		{"zero threads", withParams(sealed, 1, 64, 0), ErrCorrupt},
		{"trailing byte", append(bytes.Clone(sealed), 0), ErrCorrupt},
		{"empty", []byte{}, ErrCorrupt},
		{"magic only", []byte("PRLYSEAL"), ErrCorrupt},
		{"header only", sealed[:sealPrefixLen], ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pass := []byte("pw")
			data := tc.data
			if data == nil {
				pass, data = []byte("pW"), sealed
			}
			_, err := Open(pass, data)
			if tc.want == nil {
				wantErr(t, err)
				return
			}
			wantErr(t, err, tc.want)
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(sealed) {
			_, err := Open([]byte("pw"), sealed[:n])
			wantErr(t, err, ErrCorrupt)
		}
	})
	t.Run("every flipped byte", func(t *testing.T) {
		checkFlips(t, sealed, func(d []byte) error { _, err := Open([]byte("pw"), d); return err })
	})
}

// checkFlips flips every bit pattern 0x01 and 0x80 of every byte of a
// sealed blob and checks open fails with the error each field can give.
// Salt and KDF parameters feed the verifier, so damage there reads as a
// wrong passphrase (or ErrCorrupt for out-of-bounds parameters); any
// change to the nonce or ciphertext after a good verifier is ErrCorrupt.
func checkFlips(t *testing.T, sealed []byte, open func([]byte) error) {
	t.Helper()
	for i := range len(sealed) {
		var allowed []error
		switch {
		case i < 8: // magic
			allowed = []error{ErrCorrupt}
		case i == 8: // version
			allowed = []error{ErrUnsupportedVersion}
		case i < 34: // KDF params, salt
			allowed = []error{ErrCorrupt, ErrWrongPassphrase}
		case i < sealHeaderLen: // nonce
			allowed = []error{ErrCorrupt}
		case i < sealPrefixLen: // verifier
			allowed = []error{ErrWrongPassphrase}
		default: // ciphertext and tag
			allowed = []error{ErrCorrupt}
		}
		for _, x := range []byte{0x01, 0x80} {
			err := open(flip(sealed, i, x))
			ok := false
			for _, a := range allowed {
				ok = ok || errors.Is(err, a)
			}
			if !ok {
				t.Fatalf("byte %d ^ %#x: got %v, want one of %v", i, x, err, allowed)
			}
		}
	}
}
