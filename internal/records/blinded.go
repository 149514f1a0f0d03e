package records

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

// Blinded records (docs/protocol.md, "Blinded records"): an account or
// presence record of the current formats, padded and sealed in a box,
// signed by a per-period blinded key and stored under that key. A DHT server
// checks the signature, bounds, period and expiry without learning whose
// record it is; a reader who knows the account's public key (account
// record), or a device's public key and the account's presence key
// (presence record), derives the DHT key and the box key for a period,
// opens the box and validates the inner record in full.
//
//	account record:  A' = crypto.BlindPublicKey(A, p)
//	                 box key = HKDF-SHA256(A, info "parley/blinded-account-box/v1" || p)
//	presence record: D' = crypto.BlindPublicKeyKeyed(D, K, p)
//	                 box key = HKDF-SHA256(K, info "parley/blinded-presence-box/v1" || D || p)
//
// with A the account public key, D the device public key, K the account's
// presence key and p the period as 8 bytes big-endian. The DHT key is the
// namespace and the 32 bytes of the blinded key.

const (
	// BlindAccountNamespace is the namespace of blinded account records:
	// "/parley-bacct/" + A' (32 bytes).
	BlindAccountNamespace = "parley-bacct"
	// BlindPresenceNamespace is the namespace of blinded presence records:
	// "/parley-bpres/" + D' (32 bytes).
	BlindPresenceNamespace = "parley-bpres"

	// BlindAccountContext is the signing context of blinded account
	// records (signed by the blinded account key).
	BlindAccountContext = "parley/blinded-account/v1"
	// BlindPresenceContext is the signing context of blinded presence
	// records (signed by the blinded device key).
	BlindPresenceContext = "parley/blinded-presence/v1"

	// MaxBlindAccountRecordSize bounds a whole blinded account record: an
	// account record of MaxAccountRecordSize, padded, boxed and signed.
	MaxBlindAccountRecordSize = MaxAccountRecordSize + 2048
	// MaxBlindPresenceRecordSize bounds a whole blinded presence record.
	MaxBlindPresenceRecordSize = MaxPresenceRecordSize + 1024

	// blindVersion is the payload version of blinded records (version 3
	// of the account and presence records).
	blindVersion = 3
	// blindAccountPad and blindPresencePad are the steps the sealed
	// plaintext is padded to, so that a record's size does not tell the
	// periods of one account apart from those of others of a similar size.
	blindAccountPad  = 1024
	blindPresencePad = 256
	// boxNonceLen and boxTagLen are AES-256-GCM's.
	boxNonceLen = 12
	boxTagLen   = 16

	blindAccountBoxInfo  = "parley/blinded-account-box/v1"
	blindPresenceBoxInfo = "parley/blinded-presence-box/v1"
)

// blindKind describes one of the two blinded namespaces.
type blindKind struct {
	ns        string
	context   string
	maxSize   int
	maxInner  int
	pad       int
	operation string
}

var (
	blindAccount  = blindKind{BlindAccountNamespace, BlindAccountContext, MaxBlindAccountRecordSize, MaxAccountRecordSize, blindAccountPad, "account"}
	blindPresence = blindKind{BlindPresenceNamespace, BlindPresenceContext, MaxBlindPresenceRecordSize, MaxPresenceRecordSize, blindPresencePad, "presence"}
)

// Blinded is a parsed and validated blinded record: what a DHT server can
// check without knowing whose record it is.
type Blinded struct {
	// Key is the blinded public key that signed the record and names its
	// DHT key.
	Key ed25519.PublicKey
	// Period is the period the record is for.
	Period uint64
	// Seq is the record's sequence number; a higher one supersedes.
	Seq uint64
	// Expires is when the record stops being valid (second precision).
	Expires time.Time
	// Box is the nonce and the AES-256-GCM box of the padded inner record.
	Box []byte
	ad  []byte // the box's additional data
}

// BlindAccountKey returns the DHT key of the blinded account record of the
// account with public key pub for period p.
func BlindAccountKey(pub ed25519.PublicKey, p uint64) (string, error) {
	b, err := crypto.BlindPublicKey(pub, p)
	if err != nil {
		return "", fmt.Errorf("records.BlindAccountKey: %w", err)
	}
	return "/" + BlindAccountNamespace + "/" + string(b), nil
}

// BlindPresenceKey returns the DHT key of the blinded presence record of
// the device with public key pub, under the account's presence key k, for
// period p.
func BlindPresenceKey(pub ed25519.PublicKey, k *PresenceSealKey, p uint64) (string, error) {
	if k == nil {
		return "", fmt.Errorf("records.BlindPresenceKey: %w: nil presence key", ErrMalformed)
	}
	b, err := crypto.BlindPublicKeyKeyed(pub, k[:], p)
	if err != nil {
		return "", fmt.Errorf("records.BlindPresenceKey: %w", err)
	}
	return "/" + BlindPresenceNamespace + "/" + string(b), nil
}

// accountBoxKey and presenceBoxKey derive the AES-256 key of a box.
func accountBoxKey(pub ed25519.PublicKey, p uint64) ([]byte, error) {
	return hkdf.Key(sha256.New, pub, nil, blindAccountBoxInfo+string(binary.BigEndian.AppendUint64(nil, p)), 32)
}

func presenceBoxKey(k *PresenceSealKey, dev ed25519.PublicKey, p uint64) ([]byte, error) {
	info := append([]byte(blindPresenceBoxInfo), dev...)
	return hkdf.Key(sha256.New, k[:], nil, string(binary.BigEndian.AppendUint64(info, p)), 32)
}

// NewBlindAccount seals the account record inner (as made by NewAccount
// and accepted by ParseAccount at now) into a blinded account record for
// period p, signed by the account key blinded for p. The record expires
// PeriodOverlap after p ends, or when inner does if that is sooner.
//
// seq orders the blinded records of this one period; use the clock in Unix
// milliseconds at signing (see MaxSeq), never inner's sequence number,
// which is the same in every period and would link them.
func NewBlindAccount(ak *crypto.AccountKey, inner []byte, p, seq uint64, now time.Time) ([]byte, error) {
	if ak == nil {
		return nil, fmt.Errorf("records.NewBlindAccount: %w: nil account key", ErrMalformed)
	}
	a, err := ParseAccount(AccountKey(ak.ID()), inner, now)
	if err != nil {
		return nil, fmt.Errorf("records.NewBlindAccount: inner record: %w", err)
	}
	boxKey, err := accountBoxKey(ak.Public(), p)
	if err != nil {
		return nil, fmt.Errorf("records.NewBlindAccount: %w", err)
	}
	defer clear(boxKey)
	seed := ak.Seed()
	defer clear(seed)
	data, err := sealBlinded(blindAccount, seed, nil, boxKey, inner, p, seq, a.Expires, now)
	if err != nil {
		return nil, fmt.Errorf("records.NewBlindAccount: %w", err)
	}
	if _, err := OpenBlindAccount(ak.Public(), p, data, now); err != nil {
		return nil, fmt.Errorf("records.NewBlindAccount: %w", err)
	}
	return data, nil
}

// NewBlindPresence seals the presence record inner (as made by
// NewPresence or NewSealedPresence for the device of dk and accepted by
// ParsePresence at now) into a blinded presence record for period p,
// signed by the device key blinded under the presence key k. Expiry and
// seq are as for NewBlindAccount.
func NewBlindPresence(dk *crypto.DeviceKey, k *PresenceSealKey, inner []byte, p, seq uint64, now time.Time) ([]byte, error) {
	if dk == nil || k == nil {
		return nil, fmt.Errorf("records.NewBlindPresence: %w: nil key", ErrMalformed)
	}
	pr, err := ParsePresence(PresenceKey(dk.ID()), inner, now)
	if err != nil {
		return nil, fmt.Errorf("records.NewBlindPresence: inner record: %w", err)
	}
	boxKey, err := presenceBoxKey(k, dk.Public(), p)
	if err != nil {
		return nil, fmt.Errorf("records.NewBlindPresence: %w", err)
	}
	defer clear(boxKey)
	seed := dk.Seed()
	defer clear(seed)
	data, err := sealBlinded(blindPresence, seed, k[:], boxKey, inner, p, seq, pr.Expires, now)
	if err != nil {
		return nil, fmt.Errorf("records.NewBlindPresence: %w", err)
	}
	if _, err := OpenBlindPresence(dk.ID(), k, p, data, now); err != nil {
		return nil, fmt.Errorf("records.NewBlindPresence: %w", err)
	}
	return data, nil
}

// sealBlinded pads and boxes inner and signs the payload with the key of
// seed blinded (under blindKey, nil for the unkeyed blinding) for p.
func sealBlinded(k blindKind, seed, blindKey, boxKey, inner []byte, p, seq uint64, innerExpires, now time.Time) ([]byte, error) {
	if len(inner) > k.maxInner {
		return nil, fmt.Errorf("%w: inner record %d bytes > %d", ErrTooLarge, len(inner), k.maxInner)
	}
	bk, err := crypto.NewBlindedKey(seed, blindKey, p)
	if err != nil {
		return nil, err
	}
	defer bk.Wipe()
	expires := PeriodEnd(p).Add(PeriodOverlap)
	if innerExpires.Before(expires) {
		expires = innerExpires
	}
	h := header{Seq: seq, Expires: time.Unix(expires.Unix(), 0)}
	prefix := encodeBlindPrefix(h, p)
	aead, err := boxAEAD(boxKey)
	if err != nil {
		return nil, err
	}
	plain := padInner(inner, k.pad)
	nonce := make([]byte, boxNonceLen, boxNonceLen+len(plain)+boxTagLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	box := aead.Seal(nonce, nonce, plain, blindAD(bk.Public(), prefix))
	e := wire.NewEncoder(prefix)
	e.Bytes(box)
	return bk.SignEnvelope(k.context, e.Data())
}

// padInner encodes inner as uvarint length, the bytes, then zeros up to a
// multiple of pad.
func padInner(inner []byte, pad int) []byte {
	e := wire.NewEncoder(nil)
	e.Bytes(inner)
	n := (e.Len() + pad - 1) / pad * pad
	return append(e.Data(), make([]byte, n-e.Len())...)
}

// unpadInner reverses padInner: the padding must be zeros, and no longer
// than needed.
func unpadInner(plain []byte, pad, maxInner int) ([]byte, error) {
	d := wire.NewDecoder(plain)
	inner := d.Bytes(maxInner)
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rest := plain[d.Offset():]
	if len(rest) >= pad {
		return nil, fmt.Errorf("%w: %d bytes of padding", ErrMalformed, len(rest))
	}
	for _, b := range rest {
		if b != 0 {
			return nil, fmt.Errorf("%w: padding not zero", ErrMalformed)
		}
	}
	return inner, nil
}

// blindAD is the box's additional data: the blinded key and the payload
// before the box, so a box cannot move to another record.
func blindAD(key ed25519.PublicKey, prefix []byte) []byte {
	return append(append([]byte(nil), key...), prefix...)
}

func boxAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// encodeBlindPrefix encodes a blinded payload up to its box.
func encodeBlindPrefix(h header, p uint64) []byte {
	e := wire.NewEncoder(nil)
	encodeHeader(e, blindVersion, h)
	e.Uint64(p)
	return e.Data()
}

// ParseBlindAccount parses data as the blinded account record stored under
// key and validates it at now as a DHT server can: size, envelope and
// signature, signer equal to the key's blinded key, canonical encoding,
// period and expiry (see docs/protocol.md, "Blinded records"). It does not
// open the box: OpenBlindAccount does.
func ParseBlindAccount(key string, data []byte, now time.Time) (*Blinded, error) {
	b, err := parseBlinded(blindAccount, key, data, now)
	if err != nil {
		return nil, fmt.Errorf("records.ParseBlindAccount: %w", err)
	}
	return b, nil
}

// ParseBlindPresence is ParseBlindAccount for blinded presence records.
func ParseBlindPresence(key string, data []byte, now time.Time) (*Blinded, error) {
	b, err := parseBlinded(blindPresence, key, data, now)
	if err != nil {
		return nil, fmt.Errorf("records.ParseBlindPresence: %w", err)
	}
	return b, nil
}

func parseBlinded(k blindKind, key string, data []byte, now time.Time) (*Blinded, error) {
	rest, err := splitKey(key, k.ns)
	if err != nil {
		return nil, err
	}
	if len(rest) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: blinded key is %d bytes, want %d", ErrBadKey, len(rest), ed25519.PublicKeySize)
	}
	env, err := openEnvelope(data, k.context, k.maxSize)
	if err != nil {
		return nil, err
	}
	if string(env.Signer) != rest {
		return nil, fmt.Errorf("%w: signed by another blinded key than the record key names", ErrWrongSigner)
	}
	b, err := decodeBlinded(env.Payload, k.maxSize)
	if err != nil {
		return nil, err
	}
	if err := canonical(env.Payload, encodeBlinded(b)); err != nil {
		return nil, err
	}
	if err := checkPeriod(b.Period, b.Expires, now); err != nil {
		return nil, err
	}
	if err := checkHeader(header{b.Seq, b.Expires}, now, PeriodLength+2*PeriodOverlap); err != nil {
		return nil, err
	}
	b.Key = env.Signer
	return b, nil
}

// decodeBlinded decodes a blinded payload.
func decodeBlinded(payload []byte, maxBox int) (*Blinded, error) {
	d := wire.NewDecoder(payload)
	h := decodeHeader(d, blindVersion)
	p := d.Uint64()
	adLen := d.Offset()
	box := d.Bytes(maxBox)
	if err := finish(d); err != nil {
		return nil, err
	}
	if len(box) < boxNonceLen+boxTagLen {
		return nil, fmt.Errorf("%w: box of %d bytes", ErrMalformed, len(box))
	}
	return &Blinded{Period: p, Seq: h.Seq, Expires: h.Expires, Box: box, ad: payload[:adLen]}, nil
}

// encodeBlinded re-encodes a parsed blinded payload.
func encodeBlinded(b *Blinded) []byte {
	e := wire.NewEncoder(encodeBlindPrefix(header{b.Seq, b.Expires}, b.Period))
	e.Bytes(b.Box)
	return e.Data()
}

// open opens the box of b with boxKey and returns the unpadded inner
// record.
func (b *Blinded) open(k blindKind, boxKey []byte) ([]byte, error) {
	aead, err := boxAEAD(boxKey)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, b.Box[:boxNonceLen], b.Box[boxNonceLen:], blindAD(b.Key, b.ad))
	if err != nil {
		return nil, ErrBoxOpen
	}
	inner, err := unpadInner(plain, k.pad, k.maxInner)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBoxOpen, err)
	}
	return inner, nil
}

// OpenBlindAccount is what a reader who knows the account's public key pub
// does with data found under BlindAccountKey(pub, p): validate it as
// ParseBlindAccount does, check that it is for period p, open its box and
// validate the account record inside with ParseAccount, which also checks
// that it is the record of pub's account. Errors wrap ErrBoxOpen when the
// box does not open with the key derived from pub and p.
func OpenBlindAccount(pub ed25519.PublicKey, p uint64, data []byte, now time.Time) (*Account, error) {
	a, err := openBlindAccount(pub, p, data, now)
	if err != nil {
		return nil, fmt.Errorf("records.OpenBlindAccount: %w", err)
	}
	return a, nil
}

func openBlindAccount(pub ed25519.PublicKey, p uint64, data []byte, now time.Time) (*Account, error) {
	key, err := BlindAccountKey(pub, p)
	if err != nil {
		return nil, err
	}
	b, err := parseBlinded(blindAccount, key, data, now)
	if err != nil {
		return nil, err
	}
	if b.Period != p {
		return nil, fmt.Errorf("%w: record of period %d, looked up %d", ErrBadPeriod, b.Period, p)
	}
	boxKey, err := accountBoxKey(pub, p)
	if err != nil {
		return nil, err
	}
	inner, err := b.open(blindAccount, boxKey)
	if err != nil {
		return nil, err
	}
	return parseAccount(AccountKey(crypto.AccountIDFromPublicKey(pub)), inner, now)
}

// OpenBlindPresence is what a reader holding the account's presence key k
// does with data found under BlindPresenceKey(dev's key, k, p): validate
// it as ParseBlindPresence does, check its period, open its box and
// validate the presence record inside with ParsePresence, which also
// checks that dev signed it. A version-2 inner record's sealed addresses
// then open with Presence.Open(k).
func OpenBlindPresence(dev crypto.DeviceID, k *PresenceSealKey, p uint64, data []byte, now time.Time) (*Presence, error) {
	pr, err := openBlindPresence(dev, k, p, data, now)
	if err != nil {
		return nil, fmt.Errorf("records.OpenBlindPresence: %w", err)
	}
	return pr, nil
}

func openBlindPresence(dev crypto.DeviceID, k *PresenceSealKey, p uint64, data []byte, now time.Time) (*Presence, error) {
	pub, err := dev.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	key, err := BlindPresenceKey(pub, k, p)
	if err != nil {
		return nil, err
	}
	b, err := parseBlinded(blindPresence, key, data, now)
	if err != nil {
		return nil, err
	}
	if b.Period != p {
		return nil, fmt.Errorf("%w: record of period %d, looked up %d", ErrBadPeriod, b.Period, p)
	}
	boxKey, err := presenceBoxKey(k, pub, p)
	if err != nil {
		return nil, err
	}
	inner, err := b.open(blindPresence, boxKey)
	if err != nil {
		return nil, err
	}
	return parsePresence(PresenceKey(dev), inner, now)
}
