package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

func TestEd25519ctxRFC8032(t *testing.T) {
	// RFC 8032 §7.2, Ed25519ctx, context "foo".
	key := ed25519.PrivateKey(mustHex("0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6" +
		"dfc9425e4f968f7f0c29f0259cf5f9aed6851c2bb4ad8bfb860cfee0ab248292"))
	msg := mustHex("f726936d19c800494e3fdaff20b276a8")
	want := mustHex("55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a" +
		"8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d")
	sig := Sign(key, "foo", msg)
	if !bytes.Equal(sig, want) {
		t.Fatalf("signature = %x, want %x", sig, want)
	}
	pub := key.Public().(ed25519.PublicKey)
	wantErr(t, Verify(pub, "foo", msg, want))
	// The same vector under RFC 8032's neighbouring context "bar" fails.
	wantErr(t, Verify(pub, "bar", msg, want), ErrBadSignature)
}

func TestSignVerify(t *testing.T) {
	k := testAccountKey(t, "signer")
	other := testAccountKey(t, "other")
	const ctx = "parley/test/v1"
	msg := []byte("hello")
	sig := Sign(k.k, ctx, msg)
	plain := ed25519.Sign(k.k, msg)
	tests := []struct {
		name string
		pub  ed25519.PublicKey
		ctx  string
		msg  []byte
		sig  []byte
		want error
	}{
		{"ok", k.Public(), ctx, msg, sig, nil},
		{"wrong context", k.Public(), "parley/test/v2", msg, sig, ErrBadSignature},
		{"wrong key", other.Public(), ctx, msg, sig, ErrBadSignature},
		{"modified message", k.Public(), ctx, []byte("hellO"), sig, ErrBadSignature},
		{"modified signature", k.Public(), ctx, msg, flip(sig, 10, 1), ErrBadSignature},
		{"truncated signature", k.Public(), ctx, msg, sig[:63], ErrBadSignature},
		{"plain Ed25519 signature", k.Public(), ctx, msg, plain, ErrBadSignature},
		{"empty context", k.Public(), "", msg, plain, ErrInvalidContext},
		{"context too long", k.Public(), strings.Repeat("x", 256), msg, sig, ErrInvalidContext},
		{"short public key", k.Public()[:31], ctx, msg, sig, ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				wantErr(t, Verify(tc.pub, tc.ctx, tc.msg, tc.sig))
				return
			}
			wantErr(t, Verify(tc.pub, tc.ctx, tc.msg, tc.sig), tc.want)
		})
	}
	// 255 bytes is the longest usable context.
	long := strings.Repeat("y", 255)
	wantErr(t, Verify(k.Public(), long, msg, Sign(k.k, long, msg)))
	for _, bad := range []string{"", strings.Repeat("z", 256)} {
		if Sign(k.k, bad, msg) != nil {
			t.Errorf("Sign with context of %d bytes returned a signature", len(bad))
		}
	}
	if Sign(k.k[:10], ctx, msg) != nil {
		t.Error("Sign with a short key returned a signature")
	}
}

const envCtx = "parley/test/v1"

func TestEnvelopeRoundTrip(t *testing.T) {
	k := testAccountKey(t, "env")
	for _, payload := range [][]byte{nil, []byte("payload"), bytes.Repeat([]byte{7}, 300)} {
		data, err := SignEnvelope(k.k, envCtx, payload)
		if err != nil {
			t.Fatal(err)
		}
		e, err := OpenEnvelope(data, envCtx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if e.Context != envCtx || !e.Signer.Equal(k.Public()) || !bytes.Equal(e.Payload, payload) {
			t.Fatalf("got %+v", e)
		}
		if !bytes.Equal(e.Marshal(), data) {
			t.Fatal("Marshal is not byte-identical")
		}
		p, err := ParseEnvelope(data, 0)
		if err != nil || !bytes.Equal(p.Signature, e.Signature) {
			t.Fatalf("ParseEnvelope: %v", err)
		}
	}
}

func TestEnvelopeKnownAnswer(t *testing.T) {
	k := ed25519.NewKeyFromSeed(mustHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
	data, err := SignEnvelope(k, "parley/test/v1", []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	want := "504501" + // "PE", version 1
		"0e" + hex.EncodeToString([]byte("parley/test/v1")) +
		"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a" + // signer
		"02" + "6869" // payload "hi"
	if got := hex.EncodeToString(data[:len(data)-64]); got != want {
		t.Fatalf("envelope body\n got %s\nwant %s", got, want)
	}
	wantErr(t, Verify(k.Public().(ed25519.PublicKey), "parley/test/v1", data[:len(data)-64], data[len(data)-64:]))
}

func TestEnvelopeErrors(t *testing.T) {
	k := testAccountKey(t, "env")
	other := testAccountKey(t, "other")
	data, err := SignEnvelope(k.k, envCtx, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	otherSigned, err := SignEnvelope(other.k, envCtx, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	// Swap in another signer key: the signature no longer verifies.
	ctxEnd := 3 + 1 + len(envCtx)
	swapped := bytes.Clone(data)
	copy(swapped[ctxEnd:], other.Public())
	// Version 2.
	v2 := flip(data, 2, 3)
	// Non-minimal varint for the context length (0x8e 0x00 = 14).
	nonMin := append(append(bytes.Clone(data[:3]), 0x8e, 0x00), data[4:]...)
	// Payload over the caller's limit.
	big, err := SignEnvelope(k.k, envCtx, make([]byte, 100))
	if err != nil {
		t.Fatal(err)
	}
	// A different context, re-signed properly.
	otherCtx, err := SignEnvelope(k.k, "parley/other/v1", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"ok", data, nil},
		{"ok other signer", otherSigned, nil},
		{"wrong context", otherCtx, ErrWrongContext},
		{"swapped signer", swapped, ErrBadSignature},
		{"forged signature", flip(data, len(data)-1, 0x40), ErrBadSignature},
		{"modified payload", flip(data, len(data)-65, 1), ErrBadSignature},
		{"trailing byte", append(bytes.Clone(data), 0), ErrMalformed},
		{"bad magic", flip(data, 0, 1), ErrMalformed},
		{"version 2", v2, ErrUnsupportedVersion},
		{"non-minimal varint", nonMin, ErrMalformed},
		{"payload over limit", big, ErrMalformed},
		{"empty", nil, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenEnvelope(tc.data, envCtx, 64)
			if tc.want == nil {
				wantErr(t, err)
				return
			}
			wantErr(t, err, tc.want)
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(data) {
			_, err := ParseEnvelope(data[:n], 64)
			wantErr(t, err, ErrMalformed)
		}
	})
	t.Run("every flipped byte", func(t *testing.T) {
		for i := range len(data) {
			if _, err := OpenEnvelope(flip(data, i, 0x01), envCtx, 64); err == nil {
				t.Fatalf("flipped byte %d accepted", i)
			}
		}
	})
}

func TestEnvelopeLimits(t *testing.T) {
	k := testAccountKey(t, "env")
	tests := []struct {
		name    string
		ctx     string
		payload []byte
		want    error
	}{
		{"empty context", "", nil, ErrInvalidContext},
		{"long context", strings.Repeat("c", 256), nil, ErrInvalidContext},
		{"payload over hard cap", envCtx, make([]byte, MaxEnvelopePayload+1), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SignEnvelope(k.k, tc.ctx, tc.payload)
			wantErr(t, err, tc.want)
		})
	}
	_, err := SignEnvelope(k.k[:5], envCtx, nil)
	wantErr(t, err, ErrInvalidKey)

	// The hard cap applies even when the caller asks for more.
	atCap, err := SignEnvelope(k.k, envCtx, make([]byte, MaxEnvelopePayload))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseEnvelope(atCap, 2*MaxEnvelopePayload); err != nil {
		t.Fatalf("payload at hard cap: %v", err)
	}
	// A length field claiming more than the cap is rejected before reading.
	hdr := append([]byte("PE\x01"), byte(len(envCtx)))
	hdr = append(append(hdr, envCtx...), make([]byte, 32)...)
	hdr = binary.AppendUvarint(hdr, MaxEnvelopePayload+1)
	_, err = ParseEnvelope(hdr, 2*MaxEnvelopePayload)
	wantErr(t, err, ErrMalformed)
	wantErrText(t, err, "length")
}
