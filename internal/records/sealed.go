package records

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

// Presence record payload version 2 (docs/protocol.md, "Design: presence
// for contacts only"): the relay addresses in clear, the other addresses
// sealed under the account's presence key, which only its own devices and
// its accepted contacts hold. Validators check everything but the sealed
// box; a reader holding the key opens it with Presence.Open.

const (
	// PresenceKeyLen is the length of a presence key.
	PresenceKeyLen = 32
	// PresenceKeyIDLen is the length of a presence key's ID.
	PresenceKeyIDLen = 8
	// MaxRelayAddrs bounds the relay addresses in clear in a version-2
	// presence record.
	MaxRelayAddrs = 8
	// presenceNonceLen is the AES-256-GCM nonce length; a nonce is random
	// per record.
	presenceNonceLen = 12
	// presenceTagLen is the AES-256-GCM tag length.
	presenceTagLen = 16
	// presenceVersion2 is the sealed payload version.
	presenceVersion2 = 2
	// presenceKeyIDContext separates key IDs from other hashes of the key.
	presenceKeyIDContext = "parley/presence-key-id/v1"
)

// ErrSealedOpen is returned by Presence.Open when the key is not the one
// the record was sealed under, or the box does not open.
var ErrSealedOpen = errors.New("sealed addresses do not open with this key")

// PresenceSealKey is an account's presence key: the key its presence
// records seal their addresses under (version 2).
type PresenceSealKey [PresenceKeyLen]byte

// ID returns the key's ID: the first PresenceKeyIDLen bytes of
// SHA-256("parley/presence-key-id/v1" || key).
func (k *PresenceSealKey) ID() [PresenceKeyIDLen]byte {
	h := sha256.New()
	h.Write([]byte(presenceKeyIDContext))
	h.Write(k[:])
	var id [PresenceKeyIDLen]byte
	copy(id[:], h.Sum(nil))
	return id
}

// NewSealedPresence makes a signed version-2 presence record for the
// device of dk: relays (circuit addresses, at most MaxRelayAddrs) in
// clear, addrs (at most MaxAddrs) sealed under key. The record is checked
// with ParsePresence and opened with key before it is returned.
func NewSealedPresence(dk *crypto.DeviceKey, account crypto.AccountID, relays, addrs []ma.Multiaddr, key *PresenceSealKey, seq uint64, ttl time.Duration, now time.Time) ([]byte, error) {
	if err := checkTTL(ttl, MaxPresenceTTL); err != nil {
		return nil, fmt.Errorf("records.NewSealedPresence: %w", err)
	}
	if dk == nil || key == nil {
		return nil, fmt.Errorf("records.NewSealedPresence: %w: nil key", ErrMalformed)
	}
	if len(relays) > MaxRelayAddrs || len(addrs) > MaxAddrs {
		return nil, fmt.Errorf("records.NewSealedPresence: %w: %d relay and %d sealed addresses", ErrTooManyAddrs, len(relays), len(addrs))
	}
	for _, a := range relays {
		if !isCircuit(a) {
			return nil, fmt.Errorf("records.NewSealedPresence: %w: %s is not a relay address", ErrMalformed, a)
		}
	}
	e := wire.NewEncoder(nil)
	e.Uvarint(uint64(len(addrs)))
	for _, a := range addrs {
		e.Bytes(a.Bytes())
	}
	h := header{Seq: seq, Expires: expiry(now, ttl)}
	ad := encodeSealedPrefix(h, account, relays, key.ID())
	aead, err := presenceAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("records.NewSealedPresence: %w", err)
	}
	nonce := make([]byte, presenceNonceLen, presenceNonceLen+e.Len()+presenceTagLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("records.NewSealedPresence: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, e.Data(), ad)
	payload := wire.NewEncoder(ad)
	payload.Bytes(sealed)
	data, err := signEnvelope(dk.Ed25519(), PresenceContext, payload.Data())
	if err != nil {
		return nil, fmt.Errorf("records.NewSealedPresence: %w", err)
	}
	p, err := ParsePresence(PresenceKey(dk.ID()), data, now)
	if err != nil {
		return nil, fmt.Errorf("records.NewSealedPresence: %w", err)
	}
	if _, err := p.Open(key); err != nil {
		return nil, fmt.Errorf("records.NewSealedPresence: %w", err)
	}
	return data, nil
}

// Open returns the sealed addresses of a version-2 record (nil and no
// error for version 1, whose addresses are all in Addrs). It fails with
// ErrSealedOpen when key is not the record's key or the box was altered,
// and with ErrMalformed when what it seals is not a bounded address list.
func (p *Presence) Open(key *PresenceSealKey) ([]ma.Multiaddr, error) {
	if p.Version != presenceVersion2 {
		return nil, nil
	}
	if key == nil || key.ID() != p.KeyID {
		return nil, fmt.Errorf("records.Presence.Open: %w: key ID differs", ErrSealedOpen)
	}
	aead, err := presenceAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("records.Presence.Open: %w", err)
	}
	plain, err := aead.Open(nil, p.Sealed[:presenceNonceLen], p.Sealed[presenceNonceLen:], p.sealAD)
	if err != nil {
		return nil, fmt.Errorf("records.Presence.Open: %w", ErrSealedOpen)
	}
	addrs, err := decodeAddrList(plain, MaxAddrs)
	if err != nil {
		return nil, fmt.Errorf("records.Presence.Open: %w", err)
	}
	return addrs, nil
}

func presenceAEAD(key *PresenceSealKey) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// encodeSealedPrefix encodes a version-2 payload up to its sealed box:
// also the box's additional data.
func encodeSealedPrefix(h header, account crypto.AccountID, relays []ma.Multiaddr, keyID [PresenceKeyIDLen]byte) []byte {
	e := wire.NewEncoder(nil)
	encodeHeader(e, presenceVersion2, h)
	e.Raw(account[:])
	e.Uvarint(uint64(len(relays)))
	for _, a := range relays {
		e.Bytes(a.Bytes())
	}
	e.Raw(keyID[:])
	return e.Data()
}

// decodeSealedPresence decodes a version-2 payload.
func decodeSealedPresence(payload []byte) (*Presence, error) {
	d := wire.NewDecoder(payload)
	h := decodeHeader(d, presenceVersion2)
	var account crypto.AccountID
	d.Fill(account[:])
	n := decodeCount(d)
	if n > MaxRelayAddrs {
		return nil, fmt.Errorf("%w: %d relay addresses > %d", ErrTooManyAddrs, n, MaxRelayAddrs)
	}
	raw := make([][]byte, 0, n)
	for range n {
		raw = append(raw, d.Bytes(MaxAddrLen))
	}
	var keyID [PresenceKeyIDLen]byte
	d.Fill(keyID[:])
	adLen := d.Offset()
	sealed := d.Bytes(MaxPresenceRecordSize)
	if err := finish(d); err != nil {
		return nil, err
	}
	if account.IsZero() {
		return nil, fmt.Errorf("%w: zero account ID", ErrMalformed)
	}
	if len(sealed) < presenceNonceLen+presenceTagLen {
		return nil, fmt.Errorf("%w: sealed box of %d bytes", ErrMalformed, len(sealed))
	}
	p := &Presence{Version: presenceVersion2, Account: account, Seq: h.Seq, Expires: h.Expires, KeyID: keyID, Sealed: sealed, sealAD: payload[:adLen]}
	for i, b := range raw {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil || len(a) == 0 {
			return nil, fmt.Errorf("%w: relay address %d does not parse: %v", ErrMalformed, i, err)
		}
		if !isCircuit(a) {
			return nil, fmt.Errorf("%w: address %d in clear is not a relay address", ErrMalformed, i)
		}
		p.Addrs = append(p.Addrs, a)
	}
	return p, nil
}

// encodeSealedPresence re-encodes a parsed version-2 payload.
func encodeSealedPresence(p *Presence) []byte {
	e := wire.NewEncoder(encodeSealedPrefix(header{p.Seq, p.Expires}, p.Account, p.Addrs, p.KeyID))
	e.Bytes(p.Sealed)
	return e.Data()
}

// decodeAddrList decodes a uvarint count and that many multiaddrs, at
// most limit, each at most MaxAddrLen bytes, with nothing after.
func decodeAddrList(b []byte, limit int) ([]ma.Multiaddr, error) {
	d := wire.NewDecoder(b)
	n := decodeCount(d)
	if n > limit {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyAddrs, n, limit)
	}
	raw := make([][]byte, 0, n)
	for range n {
		raw = append(raw, d.Bytes(MaxAddrLen))
	}
	if err := finish(d); err != nil {
		return nil, err
	}
	out := make([]ma.Multiaddr, 0, n)
	for i, r := range raw {
		a, err := ma.NewMultiaddrBytes(r)
		if err != nil || len(a) == 0 {
			return nil, fmt.Errorf("%w: address %d does not parse: %v", ErrMalformed, i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// isCircuit reports whether a is a circuit relay address.
func isCircuit(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Code() == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}
