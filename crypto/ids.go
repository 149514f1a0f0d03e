package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"

	"github.com/mr-tron/base58"
)

// AccountID identifies an account. It is derived from the account's public
// key alone:
//
//	AccountID = SHA-256("parley account id v1" || 0x00 || publicKey)
//
// so anyone can check a key against an ID without a lookup. Its text form
// is bech32m (BIP-350) with human-readable part "parley": "parley1", 52 data
// characters and 6 check characters, lowercase.
type AccountID [32]byte

const (
	accountIDDomain = "parley account id v1"
	accountIDHRP    = "parley"
	accountIDPrefix = accountIDHRP + "1"
	accountIDData   = 52 // 5-bit groups for 32 bytes
	accountIDText   = len(accountIDPrefix) + accountIDData + bech32CheckLen
	shortDataChars  = 8
)

// AccountIDFromPublicKey derives the account ID of an account public key.
func AccountIDFromPublicKey(pub ed25519.PublicKey) AccountID {
	h := sha256.New()
	h.Write([]byte(accountIDDomain))
	h.Write([]byte{0})
	h.Write(pub)
	var id AccountID
	h.Sum(id[:0])
	return id
}

// idSeparators are characters ParseAccountID ignores anywhere in its input,
// so that IDs survive being chunked, wrapped or read out.
const idSeparators = " \t\r\n-_.:"

// ParseAccountID parses the text form of an account ID. Case is ignored,
// the separators space, tab, newline, '-', '_', '.' and ':' may appear
// anywhere, and the "parley1" prefix is optional. Errors wrap ErrInvalidID
// and say what is wrong: the length, a bad character and its position in s
// (counting from 1), or a checksum mismatch.
func ParseAccountID(s string) (AccountID, error) {
	var id AccountID
	// Fold case and drop separators, remembering where each kept character
	// was in the input so errors can point at it.
	clean := make([]byte, 0, accountIDText)
	pos := make([]int, 0, accountIDText)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if strings.IndexByte(idSeparators, c) >= 0 {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		clean = append(clean, c)
		pos = append(pos, i)
	}
	dataStart := 0
	if bytes.HasPrefix(clean, []byte(accountIDPrefix)) {
		dataStart = len(accountIDPrefix)
	}
	if n := len(clean) - dataStart; n != accountIDData+bech32CheckLen {
		switch {
		case strings.HasPrefix(s, "12D3KooW"):
			return id, fmt.Errorf("%w: %.16s… is a device ID, not an account ID (account IDs start with %s; parley status shows yours)",
				ErrInvalidID, s, accountIDPrefix)
		case dataStart == 0:
			return id, fmt.Errorf("%w: %q is not an account ID: account IDs are %s followed by %d characters",
				ErrInvalidID, truncate(s, 24), accountIDPrefix, accountIDData+bech32CheckLen)
		}
		return id, fmt.Errorf("%w: %q is not an account ID: %d characters after %s, want %d (part of the ID is missing or doubled)",
			ErrInvalidID, truncate(s, 24), n, accountIDPrefix, accountIDData+bech32CheckLen)
	}
	for i := dataStart; i < len(clean); i++ {
		if bech32Rev[clean[i]] < 0 {
			return id, fmt.Errorf("%w: %q is not an account ID: bad character %q at position %d",
				ErrInvalidID, truncate(s, 24), s[pos[i]], pos[i]+1)
		}
	}
	_, data, err := bech32mDecode(accountIDPrefix + string(clean[dataStart:]))
	if err != nil {
		return id, fmt.Errorf("%w: %q is not an account ID: %w", ErrInvalidID, truncate(s, 24), err)
	}
	raw, err := convertBits(data, 5, 8, false)
	if err != nil || len(raw) != len(id) {
		return id, fmt.Errorf("%w: %q is not an account ID: not canonical", ErrInvalidID, truncate(s, 24))
	}
	copy(id[:], raw)
	return id, nil
}

// String returns the canonical text form, "parley1" + 58 lowercase characters.
func (id AccountID) String() string {
	data, _ := convertBits(id[:], 8, 5, true) // padding never fails
	return bech32mEncode(accountIDHRP, data)
}

// Short returns an abbreviated form for logs and lists: "parley1" and the
// first 8 data characters. It is not unique and must not be parsed.
func (id AccountID) Short() string {
	return id.String()[:len(accountIDPrefix)+shortDataChars]
}

// LogValue makes slog print the short form.
func (id AccountID) LogValue() slog.Value { return slog.StringValue(id.Short()) }

// MarshalText implements encoding.TextMarshaler with the canonical form.
func (id AccountID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseAccountID.
func (id *AccountID) UnmarshalText(b []byte) error {
	v, err := ParseAccountID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// IsZero reports whether id is the zero value (no account).
func (id AccountID) IsZero() bool { return id == AccountID{} }

// Bytes returns a copy of the 32 ID bytes.
func (id AccountID) Bytes() []byte { return bytes.Clone(id[:]) }

// DeviceID identifies a device. It is the libp2p peer ID of the device's
// Ed25519 key: the identity multihash of the protobuf-encoded libp2p public
// key, 0x00 0x24 0x08 0x01 0x12 0x20 || publicKey. The string holds those
// raw 38 bytes, exactly like libp2p's peer.ID, so peer.ID(d) converts. Its
// text form is base58btc ("12D3KooW…").
type DeviceID string

// devicePrefix is: identity multihash code 0x00, length 36, then the
// protobuf PublicKey{Type: Ed25519 (1), Data: 32 bytes}.
const devicePrefix = "\x00\x24\x08\x01\x12\x20"

// DeviceIDFromPublicKey returns the device ID of a device public key.
func DeviceIDFromPublicKey(pub ed25519.PublicKey) DeviceID {
	return DeviceID(devicePrefix + string(pub))
}

// ParseDeviceID parses the base58btc text form of a device ID, ignoring
// surrounding white space. It accepts only Ed25519 identity-multihash peer
// IDs. Errors wrap ErrInvalidID.
func ParseDeviceID(s string) (DeviceID, error) {
	s = strings.TrimSpace(s)
	raw, err := base58.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w: not base58: %w", ErrInvalidID, err)
	}
	d := DeviceID(raw)
	if err := d.check(); err != nil {
		return "", err
	}
	if d.String() != s {
		// Leading '1's or other non-canonical spellings.
		return "", fmt.Errorf("%w: not canonical", ErrInvalidID)
	}
	return d, nil
}

// check verifies that d holds an Ed25519 identity-multihash peer ID whose
// key passes CheckPublicKey.
func (d DeviceID) check() error {
	if len(d) != len(devicePrefix)+ed25519.PublicKeySize || !strings.HasPrefix(string(d), devicePrefix) {
		return fmt.Errorf("%w: not an Ed25519 device ID", ErrInvalidID)
	}
	if err := CheckPublicKey(ed25519.PublicKey(d[len(devicePrefix):])); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidID, err)
	}
	return nil
}

// String returns the base58btc text form.
func (d DeviceID) String() string { return base58.Encode([]byte(d)) }

// Short returns "…" and the last 8 characters of the text form, for logs.
func (d DeviceID) Short() string {
	s := d.String()
	if len(s) <= shortDataChars {
		return s
	}
	return "…" + s[len(s)-shortDataChars:]
}

// LogValue makes slog print the short form.
func (d DeviceID) LogValue() slog.Value { return slog.StringValue(d.Short()) }

// PublicKey extracts the device's Ed25519 public key.
func (d DeviceID) PublicKey() (ed25519.PublicKey, error) {
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("crypto.DeviceID.PublicKey: %w", err)
	}
	return ed25519.PublicKey(d[len(devicePrefix):]), nil
}

// MarshalText implements encoding.TextMarshaler with the base58 form. The
// zero DeviceID marshals to empty text.
func (d DeviceID) MarshalText() ([]byte, error) {
	if d == "" {
		return []byte{}, nil
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("crypto.DeviceID.MarshalText: %w", err)
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDeviceID.
// Empty text yields the zero DeviceID.
func (d *DeviceID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = ""
		return nil
	}
	v, err := ParseDeviceID(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
