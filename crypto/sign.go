package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// Signatures in Parley are Ed25519ctx (RFC 8032 §5.1): the signing context
// string is mixed into the signature, so a signature made for one purpose
// ("parley/contact-request/v1") never verifies for another. The registry of
// contexts is in docs/identity.md.

// MaxContextLen is the longest signing context Ed25519ctx allows.
const MaxContextLen = 255

// CheckContext reports whether context is usable as a signing context: not
// empty (an empty context would mean plain, undomained Ed25519) and at most
// MaxContextLen bytes.
func CheckContext(context string) error {
	if context == "" || len(context) > MaxContextLen {
		return fmt.Errorf("%w: length %d not in [1, %d]", ErrInvalidContext, len(context), MaxContextLen)
	}
	return nil
}

// Sign signs msg with Ed25519ctx under context. Contexts are constants of
// the calling protocol, so Sign has no error result: for an invalid context
// (see CheckContext) or a key of the wrong size it returns nil, which never
// verifies.
func Sign(k ed25519.PrivateKey, context string, msg []byte) []byte {
	return signNoCheck(k, context, msg)
}

func signNoCheck(k ed25519.PrivateKey, context string, msg []byte) []byte {
	if CheckContext(context) != nil || len(k) != ed25519.PrivateKeySize {
		return nil
	}
	sig, err := k.Sign(nil, msg, &ed25519.Options{Context: context})
	if err != nil {
		return nil
	}
	return sig
}

// Verify checks an Ed25519ctx signature made by Sign. A wrong key, message,
// signature or context all give ErrBadSignature: they are not
// distinguishable cryptographically. A key CheckPublicKey refuses gives
// ErrWeakKey (or ErrInvalidKey for a wrong length) before any signature
// is looked at.
func Verify(pub ed25519.PublicKey, context string, msg, sig []byte) error {
	if err := CheckContext(context); err != nil {
		return fmt.Errorf("crypto.Verify: %w", err)
	}
	if err := CheckPublicKey(pub); err != nil {
		return fmt.Errorf("crypto.Verify: %w", err)
	}
	if err := ed25519.VerifyWithOptions(pub, msg, sig, &ed25519.Options{Context: context}); err != nil {
		return fmt.Errorf("crypto.Verify: %w", ErrBadSignature)
	}
	return nil
}

// Envelope is a signed message that names its own context and signer.
//
// Wire format (version 1):
//
//	"PE"                     2 bytes magic
//	0x01                     1 byte version
//	uvarint len, context     1..255 bytes
//	signer                   32 bytes Ed25519 public key
//	uvarint len, payload     0..maxPayload bytes (hard cap 1 MiB)
//	signature                64 bytes Ed25519ctx(context) over all bytes before it
//
// Varints must be minimally encoded and nothing may follow the signature,
// so every envelope has exactly one encoding.
type Envelope struct {
	Context   string
	Signer    ed25519.PublicKey
	Payload   []byte
	Signature []byte
}

const (
	envelopeMagic   = "PE"
	envelopeVersion = 1
	// MaxEnvelopePayload is the hard cap on an envelope payload.
	MaxEnvelopePayload = 1 << 20
)

// SignEnvelope builds and signs an envelope.
func SignEnvelope(k ed25519.PrivateKey, context string, payload []byte) ([]byte, error) {
	if err := CheckContext(context); err != nil {
		return nil, fmt.Errorf("crypto.SignEnvelope: %w", err)
	}
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("crypto.SignEnvelope: %w: private key is %d bytes", ErrInvalidKey, len(k))
	}
	if len(payload) > MaxEnvelopePayload {
		return nil, fmt.Errorf("crypto.SignEnvelope: %w: payload %d bytes > %d", ErrMalformed, len(payload), MaxEnvelopePayload)
	}
	e := &Envelope{Context: context, Signer: k.Public().(ed25519.PublicKey), Payload: payload}
	body := e.appendBody(nil)
	sig, err := k.Sign(nil, body, &ed25519.Options{Context: context})
	if err != nil {
		return nil, fmt.Errorf("crypto.SignEnvelope: %w", err)
	}
	return append(body, sig...), nil
}

// appendBody appends the signed part of the envelope.
func (e *Envelope) appendBody(b []byte) []byte {
	b = append(b, envelopeMagic...)
	b = append(b, envelopeVersion)
	b = binary.AppendUvarint(b, uint64(len(e.Context)))
	b = append(b, e.Context...)
	b = append(b, e.Signer...)
	b = binary.AppendUvarint(b, uint64(len(e.Payload)))
	return append(b, e.Payload...)
}

// Marshal encodes the envelope. For a parsed envelope the result is
// byte-identical to the input.
func (e *Envelope) Marshal() []byte {
	return append(e.appendBody(nil), e.Signature...)
}

// ParseEnvelope decodes an envelope without verifying it. maxPayload bounds
// the payload; a value ≤ 0 or above MaxEnvelopePayload means
// MaxEnvelopePayload. Errors wrap ErrMalformed or ErrUnsupportedVersion,
// or ErrWeakKey for a signer key CheckPublicKey refuses.
func ParseEnvelope(data []byte, maxPayload int) (*Envelope, error) {
	e, err := parseEnvelope(data, maxPayload)
	if err != nil {
		return nil, fmt.Errorf("crypto.ParseEnvelope: %w", err)
	}
	return e, nil
}

func parseEnvelope(data []byte, maxPayload int) (*Envelope, error) {
	if maxPayload <= 0 || maxPayload > MaxEnvelopePayload {
		maxPayload = MaxEnvelopePayload
	}
	r := reader{b: data}
	if !bytes.Equal(r.next(len(envelopeMagic)), []byte(envelopeMagic)) {
		return nil, fmt.Errorf("%w: bad magic", ErrMalformed)
	}
	if v := r.next(1); v == nil || v[0] != envelopeVersion {
		if v == nil {
			return nil, fmt.Errorf("%w: truncated", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: envelope version %d", ErrUnsupportedVersion, v[0])
	}
	ctx := r.varBytes(MaxContextLen)
	signer := r.next(ed25519.PublicKeySize)
	payload := r.varBytes(maxPayload)
	sig := r.next(ed25519.SignatureSize)
	switch {
	case r.err != nil:
		return nil, r.err
	case len(ctx) == 0:
		return nil, fmt.Errorf("%w: empty context", ErrMalformed)
	case len(r.b) != 0:
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if err := CheckPublicKey(signer); err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &Envelope{
		Context:   string(ctx),
		Signer:    bytes.Clone(signer),
		Payload:   bytes.Clone(payload),
		Signature: bytes.Clone(sig),
	}, nil
}

// OpenEnvelope parses an envelope, checks that it was made for context
// (else ErrWrongContext) and verifies its signature (else ErrBadSignature).
// It does not decide whether the signer is trusted: that is the caller's.
func OpenEnvelope(data []byte, context string, maxPayload int) (*Envelope, error) {
	e, err := parseEnvelope(data, maxPayload)
	if err != nil {
		return nil, fmt.Errorf("crypto.OpenEnvelope: %w", err)
	}
	if e.Context != context {
		return nil, fmt.Errorf("crypto.OpenEnvelope: %w: got %q, want %q", ErrWrongContext, e.Context, context)
	}
	body := data[:len(data)-ed25519.SignatureSize]
	if err := Verify(e.Signer, context, body, e.Signature); err != nil {
		return nil, fmt.Errorf("crypto.OpenEnvelope: %w", err)
	}
	return e, nil
}

// reader is a tiny cursor over a byte slice that records the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// varBytes reads a minimally encoded uvarint length ≤ limit and that many bytes.
func (r *reader) varBytes(limit int) []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	switch {
	case k == 0:
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
	case k < 0 || k != len(binary.AppendUvarint(nil, n)):
		r.err = fmt.Errorf("%w: bad length encoding", ErrMalformed)
	case n > uint64(limit):
		r.err = fmt.Errorf("%w: length %d > %d", ErrMalformed, n, limit)
	}
	if r.err != nil {
		return nil
	}
	r.b = r.b[k:]
	return r.next(int(n))
}
