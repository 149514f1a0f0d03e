package callproto

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Key schedule labels. Every HKDF output uses info = labelPrefix + label.
const (
	labelPrefix     = "parley call v1 "
	labelCallerSRTP = "caller->callee srtp"
	labelCalleeSRTP = "callee->caller srtp"
	labelSAS        = "sas"
	sasCommitLabel  = "parley call v1 sas commit"
	sasKeyBytes     = 32
	sasModulus      = 1_000_000
)

// Transcript is SHA-256 over both signed messages of a call, each preceded
// by its length as an 8-byte big-endian integer. It is the HKDF salt of the
// key schedule, so the keys depend on every byte either side signed.
type Transcript [32]byte

// NewTranscript hashes the exact signed offer and answer bytes.
func NewTranscript(signedOffer, signedAnswer []byte) Transcript {
	h := sha256.New()
	var n [8]byte
	for _, m := range [][]byte{signedOffer, signedAnswer} {
		binary.BigEndian.PutUint64(n[:], uint64(len(m)))
		h.Write(n[:])
		h.Write(m)
	}
	var t Transcript
	h.Sum(t[:0])
	return t
}

// DirectionKeys are the SRTP master key and salt for one direction, sized
// for AEAD_AES_128_GCM (RFC 7714).
type DirectionKeys struct {
	MasterKey  [16]byte
	MasterSalt [12]byte
}

// Keys are the result of the key agreement: one SRTP master key and salt
// per direction and the short authentication string. Call Wipe when the
// call ends; Wipe cannot reach copies of the struct or of its fields, so
// hand the keys on by pointer and wipe what you copy.
type Keys struct {
	// CallerToCallee protects media the caller sends; CalleeToCaller media
	// the callee sends.
	CallerToCallee, CalleeToCaller DirectionKeys
	// SAS is the short authentication string both users compare, two groups
	// of three digits ("042 917"). It is "" on the callee until ConfirmSAS.
	SAS string
	// SASNonce is the caller's SAS nonce: on the caller, the value to send
	// in the "confirm" control message; on the callee, the value received,
	// once ConfirmSAS succeeded.
	SASNonce [32]byte

	// sasKey is the HKDF "sas" output, kept until the nonce is known.
	sasKey  [sasKeyBytes]byte
	pending bool // sasKey is set and SAS not yet computed
}

// Directions returns the keys this side encrypts with (local) and decrypts
// with (remote). They point into k, not copies, so Wipe clears them too;
// slices taken of them are wiped with k.
func (k *Keys) Directions(caller bool) (local, remote *DirectionKeys) {
	if caller {
		return &k.CallerToCallee, &k.CalleeToCaller
	}
	return &k.CalleeToCaller, &k.CallerToCallee
}

// ConfirmSAS computes the SAS on the callee from the caller's nonce (the
// SASNonce of its "confirm" control message), after checking it against the
// commitment in the offer (Offer.SASCommit; ErrSASCommit). It succeeds once.
func (k *Keys) ConfirmSAS(commit, nonce [32]byte) error {
	if !k.pending {
		return fmt.Errorf("callproto.ConfirmSAS: %w", ErrWiped)
	}
	c := sasCommit(nonce)
	if subtle.ConstantTimeCompare(c[:], commit[:]) != 1 {
		return fmt.Errorf("callproto.ConfirmSAS: %w", ErrSASCommit)
	}
	k.finishSAS(nonce)
	return nil
}

// finishSAS turns sasKey and the nonce into the SAS and drops sasKey.
func (k *Keys) finishSAS(nonce [32]byte) {
	k.SAS = sasString(k.sasKey[:], nonce[:])
	k.SASNonce = nonce
	clear(k.sasKey[:])
	k.pending = false
}

// Wipe zeroes all keys. Go strings cannot be overwritten, so SAS is only
// dropped; it is shown to users anyway.
func (k *Keys) Wipe() {
	clear(k.CallerToCallee.MasterKey[:])
	clear(k.CallerToCallee.MasterSalt[:])
	clear(k.CalleeToCaller.MasterKey[:])
	clear(k.CalleeToCaller.MasterSalt[:])
	clear(k.sasKey[:])
	clear(k.SASNonce[:])
	k.SAS = ""
	k.pending = false
}

// sasCommit is SHA-256("parley call v1 sas commit" || nonce).
func sasCommit(nonce [32]byte) [32]byte {
	return sha256.Sum256(append([]byte(sasCommitLabel), nonce[:]...))
}

// sasString is the first 8 bytes of HMAC-SHA-256(sasKey, nonce) as a
// big-endian integer, modulo 10^6, written as two groups of three digits.
func sasString(sasKey, nonce []byte) string {
	m := hmac.New(sha256.New, sasKey)
	m.Write(nonce)
	sum := m.Sum(nil)
	v := binary.BigEndian.Uint64(sum[:8]) % sasModulus
	clear(sum)
	return fmt.Sprintf("%03d %03d", v/1000, v%1000)
}

// deriveKeys is the key schedule:
//
//	ikm = x25519Shared || mlkemShared
//	prk = HKDF-Extract(SHA-256, salt = transcript, ikm)
//	out = HKDF-Expand(SHA-256, prk, "parley call v1 " + label, length)
//
// with labels "caller->callee srtp" and "callee->caller srtp" (28 bytes:
// master key || master salt) and "sas" (32 bytes, kept in sasKey).
func deriveKeys(xs, ks []byte, t Transcript) (*Keys, error) {
	if len(xs) != 32 || len(ks) != mlkem.SharedKeySize {
		return nil, fmt.Errorf("%w: shared secret sizes %d, %d", ErrKeyAgreement, len(xs), len(ks))
	}
	ikm := make([]byte, 0, 64)
	ikm = append(append(ikm, xs...), ks...)
	defer clear(ikm)
	prk, err := hkdf.Extract(sha256.New, ikm, t[:])
	if err != nil {
		return nil, err
	}
	defer clear(prk)
	k := &Keys{pending: true}
	err = errors.Join(
		expandInto(prk, labelCallerSRTP, k.CallerToCallee.MasterKey[:], k.CallerToCallee.MasterSalt[:]),
		expandInto(prk, labelCalleeSRTP, k.CalleeToCaller.MasterKey[:], k.CalleeToCaller.MasterSalt[:]),
		expandInto(prk, labelSAS, k.sasKey[:]),
	)
	if err != nil {
		k.Wipe()
		return nil, err
	}
	return k, nil
}

// expandInto fills dst, in order, with HKDF-Expand(prk, "parley call v1 " +
// label) of their total length.
func expandInto(prk []byte, label string, dst ...[]byte) error {
	n := 0
	for _, d := range dst {
		n += len(d)
	}
	b, err := hkdf.Expand(sha256.New, prk, labelPrefix+label, n)
	if err != nil {
		return err
	}
	defer clear(b)
	for rest := b; len(dst) > 0; dst = dst[1:] {
		rest = rest[copy(dst[0], rest):]
	}
	return nil
}

// x25519 computes the X25519 shared secret of a private scalar and a peer
// public key, refusing low-order peer keys (all-zero output).
func x25519(priv, peer []byte) ([]byte, error) {
	sk, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyAgreement, err)
	}
	pk, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: X25519 public key: %w", ErrKeyAgreement, err)
	}
	s, err := sk.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: X25519: %w", ErrKeyAgreement, err)
	}
	return s, nil
}

// CallerKeys are the caller's ephemeral secrets for one call: an X25519
// private key, an ML-KEM-768 decapsulation key and the SAS nonce. They are
// single-use: Finish wipes them. They are not safe for concurrent use.
//
// The keys are held as raw bytes (the X25519 scalar, the 64-byte ML-KEM
// seed) so that Wipe can zero them; crypto/ecdh and crypto/mlkem objects,
// whose memory cannot be cleared from outside, live only inside a call.
type CallerKeys struct {
	_       [0]func() // not comparable
	xPriv   [32]byte
	kemSeed [mlkem.SeedSize]byte
	nonce   [32]byte
	xPub    [32]byte
	ek      []byte
	wiped   bool
}

// NewCallerKeys makes fresh caller secrets from crypto/rand.
func NewCallerKeys() (*CallerKeys, error) {
	k, err := newCallerKeys(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("callproto.NewCallerKeys: %w", err)
	}
	return k, nil
}

// newCallerKeys reads the X25519 scalar, the ML-KEM seed and the SAS nonce
// from r, in that order.
func newCallerKeys(r io.Reader) (*CallerKeys, error) {
	k := &CallerKeys{}
	for _, b := range [][]byte{k.xPriv[:], k.kemSeed[:], k.nonce[:]} {
		if _, err := io.ReadFull(r, b); err != nil {
			k.Wipe()
			return nil, fmt.Errorf("read randomness: %w", err)
		}
	}
	xp, err := ecdh.X25519().NewPrivateKey(k.xPriv[:])
	if err != nil {
		k.Wipe()
		return nil, err
	}
	copy(k.xPub[:], xp.PublicKey().Bytes())
	dk, err := mlkem.NewDecapsulationKey768(k.kemSeed[:])
	if err != nil {
		k.Wipe()
		return nil, err
	}
	k.ek = dk.EncapsulationKey().Bytes()
	return k, nil
}

// X25519Public returns the X25519 public key for Offer.X25519.
func (k *CallerKeys) X25519Public() []byte { return append([]byte(nil), k.xPub[:]...) }

// EncapKey returns the ML-KEM-768 encapsulation key for
// Offer.MLKEMEncapKey.
func (k *CallerKeys) EncapKey() []byte { return append([]byte(nil), k.ek...) }

// SASCommit returns the commitment to the SAS nonce for Offer.SASCommit:
// SHA-256("parley call v1 sas commit" || nonce).
func (k *CallerKeys) SASCommit() [32]byte { return sasCommit(k.nonce) }

// FillOffer sets the key fields of o: X25519, MLKEMEncapKey and SASCommit.
func (k *CallerKeys) FillOffer(o *Offer) {
	o.X25519 = k.X25519Public()
	o.MLKEMEncapKey = k.EncapKey()
	o.SASCommit = k.SASCommit()
}

// Finish completes the key agreement with the answer's key shares and the
// call's transcript. On success the caller secrets are wiped (they are
// single-use) and the keys carry the SAS and the SAS nonce to reveal in the
// "confirm" control message. On error the secrets are kept, so that another
// answer may still be tried; call Wipe when giving up.
//
// A tampered ML-KEM ciphertext does not fail here: ML-KEM's implicit
// rejection yields an unrelated shared secret, so the keys silently differ
// from the callee's and no media decrypts. The answer's signature is what
// catches tampering.
func (k *CallerKeys) Finish(answerX25519, mlkemCiphertext []byte, transcript Transcript) (*Keys, error) {
	if k.wiped {
		return nil, fmt.Errorf("callproto.CallerKeys.Finish: %w", ErrWiped)
	}
	if len(mlkemCiphertext) != mlkem.CiphertextSize768 {
		return nil, fmt.Errorf("callproto.CallerKeys.Finish: %w: ML-KEM ciphertext is %d bytes, want %d",
			ErrKeyAgreement, len(mlkemCiphertext), mlkem.CiphertextSize768)
	}
	xs, err := x25519(k.xPriv[:], answerX25519)
	if err != nil {
		return nil, fmt.Errorf("callproto.CallerKeys.Finish: %w", err)
	}
	defer clear(xs)
	dk, err := mlkem.NewDecapsulationKey768(k.kemSeed[:])
	if err != nil {
		return nil, fmt.Errorf("callproto.CallerKeys.Finish: %w", err)
	}
	ks, err := dk.Decapsulate(mlkemCiphertext)
	if err != nil {
		return nil, fmt.Errorf("callproto.CallerKeys.Finish: %w: %w", ErrKeyAgreement, err)
	}
	defer clear(ks)
	keys, err := deriveKeys(xs, ks, transcript)
	if err != nil {
		return nil, fmt.Errorf("callproto.CallerKeys.Finish: %w", err)
	}
	keys.finishSAS(k.nonce)
	k.Wipe()
	return keys, nil
}

// Wipe zeroes the caller secrets. It is safe to call more than once.
func (k *CallerKeys) Wipe() {
	clear(k.xPriv[:])
	clear(k.kemSeed[:])
	clear(k.nonce[:])
	k.wiped = true
}

// CalleeSecrets hold the callee's two shared secrets between CalleeAgree
// and Finish (which needs the signed answer, which needs the key shares).
// They are single-use and not safe for concurrent use.
type CalleeSecrets struct {
	_     [0]func() // not comparable
	xs    [32]byte
	ks    [mlkem.SharedKeySize]byte
	wiped bool
}

// encapsulateFunc is ML-KEM encapsulation; tests swap in the derandomised
// crypto/mlkem/mlkemtest for known answers.
type encapsulateFunc func(*mlkem.EncapsulationKey768) (sharedKey, ciphertext []byte, err error)

func encapsulate(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
	s, c := ek.Encapsulate()
	return s, c, nil
}

// CalleeAgree runs the callee's half of the key agreement against the
// offer's key shares: a fresh X25519 key (whose private part is wiped before
// returning) and an ML-KEM-768 encapsulation. It returns the values for
// Answer.X25519 and Answer.MLKEMCiphertext and the secrets to Finish once
// the answer is signed.
func CalleeAgree(offerX25519, offerEncapKey []byte) (x25519Pub, ciphertext []byte, secrets *CalleeSecrets, err error) {
	x25519Pub, ciphertext, secrets, err = calleeAgree(rand.Reader, encapsulate, offerX25519, offerEncapKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("callproto.CalleeAgree: %w", err)
	}
	return x25519Pub, ciphertext, secrets, nil
}

// calleeAgree reads the callee's X25519 scalar from r.
func calleeAgree(r io.Reader, encap encapsulateFunc, offerX25519, offerEncapKey []byte) ([]byte, []byte, *CalleeSecrets, error) {
	ek, err := mlkem.NewEncapsulationKey768(offerEncapKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: ML-KEM encapsulation key: %w", ErrKeyAgreement, err)
	}
	var priv [32]byte
	defer clear(priv[:])
	if _, err := io.ReadFull(r, priv[:]); err != nil {
		return nil, nil, nil, fmt.Errorf("read randomness: %w", err)
	}
	sk, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return nil, nil, nil, err
	}
	xs, err := x25519(priv[:], offerX25519)
	if err != nil {
		return nil, nil, nil, err
	}
	defer clear(xs)
	ks, ct, err := encap(ek)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrKeyAgreement, err)
	}
	defer clear(ks)
	s := &CalleeSecrets{}
	copy(s.xs[:], xs)
	copy(s.ks[:], ks)
	return sk.PublicKey().Bytes(), ct, s, nil
}

// Finish derives the keys from the transcript (NewTranscript of the signed
// offer and the signed answer) and wipes the secrets. The SAS stays empty
// until Keys.ConfirmSAS gets the caller's nonce.
func (s *CalleeSecrets) Finish(transcript Transcript) (*Keys, error) {
	if s.wiped {
		return nil, fmt.Errorf("callproto.CalleeSecrets.Finish: %w", ErrWiped)
	}
	keys, err := deriveKeys(s.xs[:], s.ks[:], transcript)
	s.Wipe()
	if err != nil {
		return nil, fmt.Errorf("callproto.CalleeSecrets.Finish: %w", err)
	}
	return keys, nil
}

// Wipe zeroes the secrets. It is safe to call more than once.
func (s *CalleeSecrets) Wipe() {
	clear(s.xs[:])
	clear(s.ks[:])
	s.wiped = true
}
