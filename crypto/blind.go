package crypto

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"fmt"

	"filippo.io/edwards25519"
)

// Key blinding (Tor rend-spec-v3 appendix A.2, adapted): from an Ed25519
// key pair (a, A) and a period number p, anyone who knows the public key A
// computes a blinded public key A' = h·A, and the holder of the seed signs
// ordinary Ed25519 (or Ed25519ctx) signatures under A' with the blinded
// scalar a' = h·a mod l. Someone who sees only A' of two periods cannot
// tell that they come from one key (without A, h looks random), so records
// published under blinded keys are unlinkable across periods, yet a DHT
// server verifies their signatures with crypto/ed25519 alone.
//
// The blinding factor is
//
//	h = SHA-512("parley/blind/v1" || A || p) mod l                (unkeyed)
//	h = SHA-512("parley/blind-keyed/v1" || A || p || K) mod l     (keyed by a 32-byte secret K)
//
// with p as 8 bytes big-endian. The whole 64-byte hash is reduced modulo the
// group order l (as the Ed25519 signature hashes are), not clamped: the
// result is uniform modulo l, and A, checked by CheckPublicKey and made by
// Ed25519 key generation, lies in the prime-order subgroup, so no cofactor
// clearing is needed. The keyed form lets only holders of K (an account's
// presence key, say) compute the blinded key.
//
// The signing nonce prefix of the blinded key is
//
//	prefix' = SHA-512("parley/blind-prefix/v1" || prefix || h)[:32]
//
// where prefix is the upper half of SHA-512(seed), as in RFC 8032, and h is
// the 32-byte little-endian blinding factor. Tor derives prefix' from prefix
// alone; binding it to h as well means that one message signed in two
// periods gets two unrelated nonces: with one nonce, the two signatures
// would share R (linking the periods) and, to anyone who knows A (who can
// compute both h), give away a.

// BlindKeyLen is the length of the secret that keys a keyed blinding.
const BlindKeyLen = 32

const (
	blindContext      = "parley/blind/v1"
	blindKeyedContext = "parley/blind-keyed/v1"
	blindPrefixCtx    = "parley/blind-prefix/v1"
	// dom2Prefix starts the RFC 8032 dom2 string of Ed25519ctx.
	dom2Prefix = "SigEd25519 no Ed25519 collisions"
)

// BlindedKey is the private half of a key blinded for one period. Like
// AccountKey it is opaque and not comparable. Make it with NewBlindedKey.
type BlindedKey struct {
	_      [0]func() // not comparable
	s      edwards25519.Scalar
	prefix [32]byte
	pub    [ed25519.PublicKeySize]byte
}

// blindFactor computes h for the public key pub, the period and key (nil
// for the unkeyed blinding). pub must have passed CheckPublicKey.
func blindFactor(pub ed25519.PublicKey, key []byte, period uint64) (*edwards25519.Scalar, error) {
	hh := sha512.New()
	if key == nil {
		hh.Write([]byte(blindContext))
	} else {
		if len(key) != BlindKeyLen {
			return nil, fmt.Errorf("%w: blinding key is %d bytes, want %d", ErrInvalidKey, len(key), BlindKeyLen)
		}
		hh.Write([]byte(blindKeyedContext))
	}
	hh.Write(pub)
	hh.Write(binary.BigEndian.AppendUint64(nil, period))
	hh.Write(key)
	h, err := new(edwards25519.Scalar).SetUniformBytes(hh.Sum(nil))
	if err != nil {
		return nil, err
	}
	return h, nil
}

// BlindPublicKey returns the blinded public key h·A of pub for period
// (unkeyed blinding). Errors wrap ErrInvalidKey or ErrWeakKey for a public
// key CheckPublicKey refuses.
func BlindPublicKey(pub ed25519.PublicKey, period uint64) (ed25519.PublicKey, error) {
	b, err := blindPublic(pub, nil, period)
	if err != nil {
		return nil, fmt.Errorf("crypto.BlindPublicKey: %w", err)
	}
	return b, nil
}

// BlindPublicKeyKeyed returns the blinded public key of pub for period under
// the keyed blinding with the BlindKeyLen-byte secret key: only holders of
// key can compute it.
func BlindPublicKeyKeyed(pub ed25519.PublicKey, key []byte, period uint64) (ed25519.PublicKey, error) {
	if key == nil {
		key = []byte{} // nil would select the unkeyed blinding
	}
	b, err := blindPublic(pub, key, period)
	if err != nil {
		return nil, fmt.Errorf("crypto.BlindPublicKeyKeyed: %w", err)
	}
	return b, nil
}

func blindPublic(pub ed25519.PublicKey, key []byte, period uint64) (ed25519.PublicKey, error) {
	if err := CheckPublicKey(pub); err != nil {
		return nil, err
	}
	h, err := blindFactor(pub, key, period)
	if err != nil {
		return nil, err
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWeakKey, err)
	}
	out := new(edwards25519.Point).ScalarMult(h, p)
	if err := checkBlinded(out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// checkBlinded refuses a blinded key of small order. A' = h·A, where A
// passed CheckPublicKey (so its prime-order part is not zero), is of small
// order only when h = 0 mod l (probability 2^-252); Bytes is always the
// canonical encoding. So this cheap test stands for CheckPublicKey.
func checkBlinded(p *edwards25519.Point) error {
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("%w: blinded key of small order", ErrWeakKey)
	}
	return nil
}

// NewBlindedKey blinds the Ed25519 key of the 32-byte seed for period;
// key is nil for the unkeyed blinding, or the BlindKeyLen-byte secret of
// a keyed one. Its Public key equals BlindPublicKey (or
// BlindPublicKeyKeyed) of the seed's public key.
func NewBlindedKey(seed, key []byte, period uint64) (*BlindedKey, error) {
	b, err := newBlindedKey(seed, key, period)
	if err != nil {
		return nil, fmt.Errorf("crypto.NewBlindedKey: %w", err)
	}
	return b, nil
}

func newBlindedKey(seed, key []byte, period uint64) (*BlindedKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidKey, len(seed), ed25519.SeedSize)
	}
	if key != nil && len(key) != BlindKeyLen {
		return nil, fmt.Errorf("%w: blinding key is %d bytes, want %d", ErrInvalidKey, len(key), BlindKeyLen)
	}
	digest := sha512.Sum512(seed)
	defer clear(digest[:])
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(digest[:32])
	if err != nil {
		return nil, err
	}
	pub := new(edwards25519.Point).ScalarBaseMult(a).Bytes()
	h, err := blindFactor(pub, key, period)
	if err != nil {
		return nil, err
	}
	b := &BlindedKey{}
	b.s.Multiply(h, a)
	a.Set(edwards25519.NewScalar())
	pt := new(edwards25519.Point).ScalarBaseMult(&b.s)
	if err := checkBlinded(pt); err != nil {
		return nil, err
	}
	copy(b.pub[:], pt.Bytes())
	ph := sha512.New()
	ph.Write([]byte(blindPrefixCtx))
	ph.Write(digest[32:])
	ph.Write(h.Bytes())
	copy(b.prefix[:], ph.Sum(nil))
	return b, nil
}

// Public returns the blinded public key.
func (b *BlindedKey) Public() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), b.pub[:]...)
}

// Sign signs msg under the blinded key: with Ed25519ctx (RFC 8032 §5.1)
// under context, or with pure Ed25519 if context is "". The signature
// verifies with crypto/ed25519 (VerifyWithOptions with the context, or
// Verify) under Public. It returns nil for a context longer than
// MaxContextLen.
func (b *BlindedKey) Sign(context string, msg []byte) []byte {
	if len(context) > MaxContextLen {
		return nil
	}
	var dom []byte
	if context != "" {
		dom = append([]byte(dom2Prefix), 0, byte(len(context)))
		dom = append(dom, context...)
	}
	// r = SHA-512(dom2 || prefix' || M) mod l; R = r·B.
	rh := sha512.New()
	rh.Write(dom)
	rh.Write(b.prefix[:])
	rh.Write(msg)
	r, _ := new(edwards25519.Scalar).SetUniformBytes(rh.Sum(nil))
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	// k = SHA-512(dom2 || R || A' || M) mod l; S = r + k·a'.
	kh := sha512.New()
	kh.Write(dom)
	kh.Write(R)
	kh.Write(b.pub[:])
	kh.Write(msg)
	k, _ := new(edwards25519.Scalar).SetUniformBytes(kh.Sum(nil))
	S := new(edwards25519.Scalar).MultiplyAdd(k, &b.s, r)
	r.Set(edwards25519.NewScalar())
	return append(R, S.Bytes()...)
}

// SignEnvelope builds a signed envelope (see Envelope) whose signer is the
// blinded public key, signed with Ed25519ctx under context; OpenEnvelope
// verifies it like any other.
func (b *BlindedKey) SignEnvelope(context string, payload []byte) ([]byte, error) {
	if err := CheckContext(context); err != nil {
		return nil, fmt.Errorf("crypto.BlindedKey.SignEnvelope: %w", err)
	}
	if len(payload) > MaxEnvelopePayload {
		return nil, fmt.Errorf("crypto.BlindedKey.SignEnvelope: %w: payload %d bytes > %d", ErrMalformed, len(payload), MaxEnvelopePayload)
	}
	e := &Envelope{Context: context, Signer: b.Public(), Payload: payload}
	body := e.appendBody(nil)
	return append(body, b.Sign(context, body)...), nil
}

// Wipe zeroes the blinded private scalar and nonce prefix. The key must
// not be used afterwards.
func (b *BlindedKey) Wipe() {
	b.s.Set(edwards25519.NewScalar())
	clear(b.prefix[:])
}

// BlindSign signs msg with pure Ed25519 under the unkeyed blinding of the
// seed's key for period: the signature verifies with ed25519.Verify under
// BlindPublicKey(public key of seed, period).
func BlindSign(seed []byte, period uint64, msg []byte) ([]byte, error) {
	b, err := newBlindedKey(seed, nil, period)
	if err != nil {
		return nil, fmt.Errorf("crypto.BlindSign: %w", err)
	}
	defer b.Wipe()
	return b.Sign("", msg), nil
}
