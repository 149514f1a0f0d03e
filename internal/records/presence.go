package records

import (
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

// Presence is a parsed and validated device presence record.
type Presence struct {
	// Device is the device the record is about; its key signed the record.
	Device crypto.DeviceID
	// Account is the account the device claims to belong to. Only the
	// account's own record (listing the device) proves it.
	Account crypto.AccountID
	// Addrs are the device's current addresses, relay addresses included.
	Addrs []ma.Multiaddr
	// Seq is the record's sequence number; a higher one supersedes.
	Seq uint64
	// Expires is when the record stops being valid (second precision).
	Expires time.Time
	// Version is the payload version: 1, every address in Addrs; 2,
	// relay addresses in Addrs and the others sealed (Open).
	Version int
	// KeyID names the presence key the addresses are sealed under
	// (version 2).
	KeyID [PresenceKeyIDLen]byte
	// Sealed is the nonce and the AES-256-GCM box of the sealed addresses
	// (version 2).
	Sealed []byte
	sealAD []byte // the box's additional data: the payload before it
}

// NewPresence makes a signed presence record for the device of dk, member of
// account, reachable at addrs (at most MaxAddrs; none is allowed), valid from now for ttl (at
// most MaxPresenceTTL). The record is checked with ParsePresence before it is
// returned.
func NewPresence(dk *crypto.DeviceKey, account crypto.AccountID, addrs []ma.Multiaddr, seq uint64, ttl time.Duration, now time.Time) ([]byte, error) {
	if err := checkTTL(ttl, MaxPresenceTTL); err != nil {
		return nil, fmt.Errorf("records.NewPresence: %w", err)
	}
	if dk == nil {
		return nil, fmt.Errorf("records.NewPresence: %w: nil device key", ErrMalformed)
	}
	if len(addrs) > MaxAddrs {
		return nil, fmt.Errorf("records.NewPresence: %w: %d > %d", ErrTooManyAddrs, len(addrs), MaxAddrs)
	}
	payload := encodePresence(header{Seq: seq, Expires: expiry(now, ttl)}, account, addrs)
	data, err := signEnvelope(dk.Ed25519(), PresenceContext, payload)
	if err != nil {
		return nil, fmt.Errorf("records.NewPresence: %w", err)
	}
	if _, err := ParsePresence(PresenceKey(dk.ID()), data, now); err != nil {
		return nil, fmt.Errorf("records.NewPresence: %w", err)
	}
	return data, nil
}

// encodePresence encodes a presence record payload.
func encodePresence(h header, account crypto.AccountID, addrs []ma.Multiaddr) []byte {
	e := wire.NewEncoder(nil)
	encodeHeader(e, presenceVersion, h)
	e.Raw(account[:])
	e.Uvarint(uint64(len(addrs)))
	for _, a := range addrs {
		e.Bytes(a.Bytes())
	}
	return e.Data()
}

// ParsePresence parses data as the presence record stored under key and
// validates it at time now: size, envelope and signature, that the signer is
// the device the key names, expiry within (now, now+MaxPresenceTTL+ClockSkew], a
// non-zero account and at most MaxAddrs well-formed addresses (version 1),
// or at most MaxRelayAddrs well-formed relay addresses, a key ID and a
// sealed box of a plausible size (version 2, whose box only Open checks).
func ParsePresence(key string, data []byte, now time.Time) (*Presence, error) {
	p, err := parsePresence(key, data, now)
	if err != nil {
		return nil, fmt.Errorf("records.ParsePresence: %w", err)
	}
	return p, nil
}

func parsePresence(key string, data []byte, now time.Time) (*Presence, error) {
	dev, err := parsePresenceKey(key)
	if err != nil {
		return nil, err
	}
	env, err := openEnvelope(data, PresenceContext, MaxPresenceRecordSize)
	if err != nil {
		return nil, err
	}
	if signer := crypto.DeviceIDFromPublicKey(env.Signer); signer != dev {
		return nil, fmt.Errorf("%w: signed by device %s, key names %s", ErrWrongSigner, signer.Short(), dev.Short())
	}
	var p *Presence
	if len(env.Payload) > 0 && env.Payload[0] == presenceVersion2 {
		if p, err = decodeSealedPresence(env.Payload); err != nil {
			return nil, err
		}
		err = canonical(env.Payload, encodeSealedPresence(p))
	} else {
		if p, err = decodePresence(env.Payload); err != nil {
			return nil, err
		}
		err = canonical(env.Payload, encodePresence(header{p.Seq, p.Expires}, p.Account, p.Addrs))
	}
	if err != nil {
		return nil, err
	}
	p.Device = dev
	if err := checkHeader(header{p.Seq, p.Expires}, now, MaxPresenceTTL); err != nil {
		return nil, err
	}
	return p, nil
}

// decodePresence decodes a presence payload.
func decodePresence(payload []byte) (*Presence, error) {
	d := wire.NewDecoder(payload)
	h := decodeHeader(d, presenceVersion)
	var account crypto.AccountID
	d.Fill(account[:])
	n := decodeCount(d)
	if n > MaxAddrs {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyAddrs, n, MaxAddrs)
	}
	raw := make([][]byte, 0, n)
	for range n {
		raw = append(raw, d.Bytes(MaxAddrLen))
	}
	if err := finish(d); err != nil {
		return nil, err
	}
	if account.IsZero() {
		return nil, fmt.Errorf("%w: zero account ID", ErrMalformed)
	}
	p := &Presence{Version: presenceVersion, Account: account, Seq: h.Seq, Expires: h.Expires}
	for i, b := range raw {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil || len(a) == 0 {
			return nil, fmt.Errorf("%w: address %d does not parse: %v", ErrMalformed, i, err)
		}
		p.Addrs = append(p.Addrs, a)
	}
	return p, nil
}
