package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"
)

// The known answers below were computed twice: by this package and by
// testdata/blind_ref.py, an independent implementation on RFC 8032's
// pure-Python arithmetic (python3 testdata/blind_ref.py prints them), which
// also checks that h·a·B and h·A are the same point.
var blindKATs = []struct {
	name    string
	period  uint64
	key     string // hex; "" = unkeyed
	context string // "" = pure Ed25519
	msg     string
	pub     string // A'
	sig     string
}{
	{
		name: "unkeyed p=20000", period: 20000, msg: "parley blind test",
		pub: "da8f6c302a3a2b00a4b7f4194ec99af59226fe3ff1ab8bcb30de81421023b9d5",
		sig: "fae4fa2fa6bb180182d8ce4964fb7b0210350c745962b183d1de6d1e967cecb7" +
			"8f9c0a66c6d925620f820790c097990d65d8a6cc14c405ad7710a789a12bbe0d",
	},
	{
		name: "unkeyed p=20001", period: 20001, msg: "parley blind test",
		pub: "dba5103e7033906f7e9da7d0e5c56fc44c5a9b0227ab8d6e42251d0eda0342bf",
		sig: "1742524a28a301d8364d96634afb38786b4ec8e55c6c9ee97018a2ccf3d8e33a" +
			"392463849ffd033a3c5a980905beee93192d1d98a00dbbc393c0471c2e927109",
	},
	{
		name: "keyed ctx p=20000", period: 20000,
		key:     "a0a1a2a3a4a5a6a7a8a9aaabacadaeafa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
		context: "parley/test/v1", msg: "m",
		pub: "e8b1687ec7600dc675e17b4c6e7d10c1e99189d5f6041c52a32c94032ed2446e",
		sig: "105f85e9ca5a9d8459a1cdc46b6904ad427a3ef7f57d3f40f7732f1da847a1b4" +
			"d62b43e1f9a8fb7c25437e5d5a30d04d2db76fa13ecb508bc6051d2e2aac6b0f",
	},
}

// blindKATSeed is the seed of the known answers: bytes 0, 1, …, 31. Its
// public key is 03a107bf…5531b8.
func blindKATSeed() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

func TestBlindKnownAnswers(t *testing.T) {
	seed := blindKATSeed()
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if got := hex.EncodeToString(pub); got != "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" {
		t.Fatalf("seed's public key %s", got)
	}
	for _, tc := range blindKATs {
		t.Run(tc.name, func(t *testing.T) {
			var key []byte
			var bpub ed25519.PublicKey
			var err error
			if tc.key != "" {
				key = mustHex(tc.key)
				bpub, err = BlindPublicKeyKeyed(pub, key, tc.period)
			} else {
				bpub, err = BlindPublicKey(pub, tc.period)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(bpub); got != tc.pub {
				t.Errorf("blinded public key\n got %s\nwant %s", got, tc.pub)
			}
			bk, err := NewBlindedKey(seed, key, tc.period)
			if err != nil {
				t.Fatal(err)
			}
			if !bk.Public().Equal(bpub) {
				t.Errorf("NewBlindedKey's public key %x differs from the blinded public key %x", bk.Public(), bpub)
			}
			sig := bk.Sign(tc.context, []byte(tc.msg))
			if got := hex.EncodeToString(sig); got != tc.sig {
				t.Errorf("signature\n got %s\nwant %s", got, tc.sig)
			}
			if tc.key == "" && tc.context == "" {
				s2, err := BlindSign(seed, tc.period, []byte(tc.msg))
				if err != nil || !bytes.Equal(s2, sig) {
					t.Errorf("BlindSign = %x, %v; want the same signature", s2, err)
				}
			}
			// The standard library verifies it under A'.
			if err := ed25519.VerifyWithOptions(bpub, []byte(tc.msg), sig, &ed25519.Options{Context: tc.context}); err != nil {
				t.Errorf("crypto/ed25519 refuses the blinded signature: %v", err)
			}
		})
	}
}

// TestBlindSignVerifies: for many keys and periods, BlindSign verifies
// under BlindPublicKey and under nothing else: not A, not the blinded key
// of another period, not another message.
func TestBlindSignVerifies(t *testing.T) {
	msg := []byte("a record")
	for i := range 20 {
		seed := testSeed(string(rune('a' + i)))
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		p := uint64(19000 + i*37)
		bp, err := BlindPublicKey(pub, p)
		if err != nil {
			t.Fatal(err)
		}
		other, err := BlindPublicKey(pub, p+1)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := BlindSign(seed, p, msg)
		if err != nil {
			t.Fatal(err)
		}
		if !ed25519.Verify(bp, msg, sig) {
			t.Fatalf("key %d period %d: signature does not verify under A'", i, p)
		}
		if ed25519.Verify(pub, msg, sig) {
			t.Fatalf("key %d: blinded signature verifies under the unblinded key", i)
		}
		if ed25519.Verify(other, msg, sig) {
			t.Fatalf("key %d: signature of period %d verifies under period %d's key", i, p, p+1)
		}
		if ed25519.Verify(bp, []byte("another record"), sig) {
			t.Fatalf("key %d: signature verifies for another message", i)
		}
		if bytes.Equal(bp, pub) || bytes.Equal(bp, other) {
			t.Fatalf("key %d: blinded keys repeat", i)
		}
	}
}

// TestBlindPeriodsUnrelated: the blinded keys and the signatures' R of one
// key over consecutive periods share nothing, not even for the same
// message (the nonce prefix depends on the period).
func TestBlindPeriodsUnrelated(t *testing.T) {
	seed := testSeed("periods")
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	seenPub := map[string]bool{}
	seenR := map[string]bool{}
	msg := []byte("the same message every period")
	for p := uint64(20000); p < 20030; p++ {
		bp, err := BlindPublicKey(pub, p)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := BlindSign(seed, p, msg)
		if err != nil {
			t.Fatal(err)
		}
		if seenPub[string(bp)] || seenR[string(sig[:32])] {
			t.Fatalf("period %d repeats a blinded key or a nonce point", p)
		}
		seenPub[string(bp)], seenR[string(sig[:32])] = true, true
	}
	// Keyed and unkeyed blindings, and two keys, differ.
	k1, k2 := bytes.Repeat([]byte{1}, BlindKeyLen), bytes.Repeat([]byte{2}, BlindKeyLen)
	u, _ := BlindPublicKey(pub, 20000)
	a, _ := BlindPublicKeyKeyed(pub, k1, 20000)
	b, _ := BlindPublicKeyKeyed(pub, k2, 20000)
	if u.Equal(a) || a.Equal(b) || u.Equal(b) {
		t.Fatal("keyed blindings collide")
	}
}

func TestBlindRefusesBadInput(t *testing.T) {
	seed := testSeed("bad")
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	identity := make([]byte, 32)
	identity[0] = 1 // the neutral element, of small order
	for _, tc := range []struct {
		name string
		err  error
		run  func() error
	}{
		{"weak public key", ErrWeakKey, func() error { _, err := BlindPublicKey(identity, 1); return err }},
		{"short public key", ErrInvalidKey, func() error { _, err := BlindPublicKey(pub[:31], 1); return err }},
		{"short blinding key", ErrInvalidKey, func() error { _, err := BlindPublicKeyKeyed(pub, []byte{1}, 1); return err }},
		{"nil blinding key", ErrInvalidKey, func() error { _, err := BlindPublicKeyKeyed(pub, nil, 1); return err }},
		{"short seed", ErrInvalidKey, func() error { _, err := NewBlindedKey(seed[:16], nil, 1); return err }},
		{"short seed BlindSign", ErrInvalidKey, func() error { _, err := BlindSign(nil, 1, nil); return err }},
		{"keyed short key", ErrInvalidKey, func() error { _, err := NewBlindedKey(seed, []byte{}, 1); return err }},
	} {
		if err := tc.run(); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
	bk, err := NewBlindedKey(seed, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if sig := bk.Sign(string(make([]byte, MaxContextLen+1)), nil); sig != nil {
		t.Error("Sign accepted an overlong context")
	}
	if _, err := bk.SignEnvelope("", nil); !errors.Is(err, ErrInvalidContext) {
		t.Errorf("SignEnvelope with no context: %v", err)
	}
}

// TestBlindEnvelope: an envelope signed by a blinded key opens with
// OpenEnvelope under its context only, names A' as signer, and a changed
// byte breaks it.
func TestBlindEnvelope(t *testing.T) {
	seed := testSeed("envelope")
	bk, err := NewBlindedKey(seed, bytes.Repeat([]byte{7}, BlindKeyLen), 20400)
	if err != nil {
		t.Fatal(err)
	}
	data, err := bk.SignEnvelope("parley/test/v1", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := OpenEnvelope(data, "parley/test/v1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Signer.Equal(bk.Public()) || string(e.Payload) != "payload" {
		t.Fatalf("opened %+v", e)
	}
	if _, err := OpenEnvelope(data, "parley/other/v1", 0); !errors.Is(err, ErrWrongContext) {
		t.Errorf("other context: %v", err)
	}
	bad := bytes.Clone(data)
	bad[len(bad)-70] ^= 1 // a payload byte
	if _, err := OpenEnvelope(bad, "parley/test/v1", 0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("altered payload: %v", err)
	}
	bk.Wipe()
}

// BenchmarkBlindPublicKey is what a reader pays per lookup to find the key.
func BenchmarkBlindPublicKey(b *testing.B) {
	pub := ed25519.NewKeyFromSeed(blindKATSeed()).Public().(ed25519.PublicKey)
	for i := 0; b.Loop(); i++ {
		if _, err := BlindPublicKey(pub, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlindSign is what a publisher pays per record.
func BenchmarkBlindSign(b *testing.B) {
	seed := blindKATSeed()
	msg := make([]byte, 2048)
	for i := 0; b.Loop(); i++ {
		if _, err := BlindSign(seed, uint64(i), msg); err != nil {
			b.Fatal(err)
		}
	}
}
