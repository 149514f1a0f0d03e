package records

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/crypto"
)

// DHT namespaces, bounds and signing contexts of Parley records.
const (
	// AccountNamespace is the namespace of account records; the key is
	// "/parley-acct/" + the 32 raw account ID bytes (see AccountKey).
	AccountNamespace = "parley-acct"
	// PresenceNamespace is the namespace of device presence records; the
	// key is "/parley-dev/" + the raw device ID bytes (see PresenceKey).
	PresenceNamespace = "parley-dev"

	// MaxAccountRecordSize bounds a whole account record (envelope and
	// payload), in bytes.
	MaxAccountRecordSize = 64 << 10
	// MaxPresenceRecordSize bounds a whole presence record, in bytes.
	MaxPresenceRecordSize = 8 << 10

	// MaxTTL is the longest a record may live: a record expiring later than
	// now + MaxTTL + ClockSkew is rejected. Nodes re-publish well before.
	MaxTTL = 48 * time.Hour
	// ClockSkew is the tolerance for clocks of publisher and validator that
	// disagree, added to MaxTTL when checking an expiry.
	ClockSkew = time.Minute

	// MaxAddrs bounds the addresses in a presence record.
	MaxAddrs = 32
	// MaxDevices bounds the devices listed in an account record.
	MaxDevices = 16

	// AccountContext is the signing context of account records (signed by
	// the account key).
	AccountContext = "parley/account-record/v1"
	// PresenceContext is the signing context of presence records (signed
	// by the device key).
	PresenceContext = "parley/presence/v1"
)

// payloadVersion is the version byte that starts every payload.
const payloadVersion = 1

// AccountKey returns the DHT key of an account's record.
func AccountKey(id crypto.AccountID) string {
	return "/" + AccountNamespace + "/" + string(id[:])
}

// PresenceKey returns the DHT key of a device's presence record.
func PresenceKey(d crypto.DeviceID) string {
	return "/" + PresenceNamespace + "/" + string(d)
}

// splitKey returns the part of key after "/ns/".
func splitKey(key, ns string) (string, error) {
	prefix := "/" + ns + "/"
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", fmt.Errorf("%w: not in namespace %q", ErrBadKey, ns)
	}
	return rest, nil
}

// parseAccountKey returns the account ID named by an account record key.
func parseAccountKey(key string) (crypto.AccountID, error) {
	var id crypto.AccountID
	rest, err := splitKey(key, AccountNamespace)
	if err != nil {
		return id, err
	}
	if len(rest) != len(id) {
		return id, fmt.Errorf("%w: account ID is %d bytes, want %d", ErrBadKey, len(rest), len(id))
	}
	copy(id[:], rest)
	return id, nil
}

// parsePresenceKey returns the device ID named by a presence record key.
func parsePresenceKey(key string) (crypto.DeviceID, error) {
	rest, err := splitKey(key, PresenceNamespace)
	if err != nil {
		return "", err
	}
	d := crypto.DeviceID(rest)
	if _, err := d.PublicKey(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return d, nil
}

// header is what both payloads start with.
type header struct {
	Seq     uint64
	Expires time.Time
}

// checkTTL validates the TTL a record is made with.
func checkTTL(ttl time.Duration) error {
	if ttl < time.Second || ttl > MaxTTL {
		return fmt.Errorf("%w: %v not in [1s, %v]", ErrBadTTL, ttl, MaxTTL)
	}
	return nil
}

// expiry turns now + ttl into the second-precision expiry put on the wire.
func expiry(now time.Time, ttl time.Duration) time.Time {
	return time.Unix(now.Add(ttl).Unix(), 0)
}

// checkExpiry rejects expired records and records expiring too late.
func checkExpiry(expires, now time.Time) error {
	if !expires.After(now) {
		return fmt.Errorf("%w: at %v", ErrExpired, expires.UTC())
	}
	if limit := now.Add(MaxTTL + ClockSkew); expires.After(limit) {
		return fmt.Errorf("%w: %v is after %v", ErrExpiryTooFar, expires.UTC(), limit.UTC())
	}
	return nil
}

// openEnvelope checks size and signature of a record and maps crypto's errors
// to this package's sentinels.
func openEnvelope(data []byte, context string, maxSize int) (*crypto.Envelope, error) {
	if len(data) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(data), maxSize)
	}
	env, err := crypto.OpenEnvelope(data, context, maxSize)
	switch {
	case err == nil:
		return env, nil
	case isBadSignature(err):
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	default:
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

// signEnvelope signs payload with an Ed25519 private key and wipes the key.
func signEnvelope(priv ed25519.PrivateKey, context string, payload []byte) ([]byte, error) {
	defer clear(priv)
	return crypto.SignEnvelope(priv, context, payload)
}

// encoder appends payload fields.
type encoder struct{ b []byte }

func (e *encoder) header(h header) {
	e.b = append(e.b, payloadVersion)
	e.b = binary.BigEndian.AppendUint64(e.b, h.Seq)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(h.Expires.Unix()))
}

func (e *encoder) uvarint(n int) { e.b = binary.AppendUvarint(e.b, uint64(n)) }

func (e *encoder) bytes(v []byte) {
	e.uvarint(len(v))
	e.b = append(e.b, v...)
}

// decoder reads payload fields and records the first error, which always
// wraps ErrMalformed.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) header() header {
	v := d.next(1)
	if d.err != nil {
		return header{}
	}
	if v[0] != payloadVersion {
		d.fail("payload version %d, want %d", v[0], payloadVersion)
		return header{}
	}
	f := d.next(16)
	if d.err != nil {
		return header{}
	}
	return header{
		Seq:     binary.BigEndian.Uint64(f[:8]),
		Expires: time.Unix(int64(binary.BigEndian.Uint64(f[8:])), 0),
	}
}

// uvarint reads a minimally encoded uvarint no larger than limit.
func (d *decoder) uvarint(limit int) int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	switch {
	case k <= 0:
		d.fail("bad varint")
	case k != len(binary.AppendUvarint(nil, n)):
		d.fail("non-minimal varint")
	case n > uint64(limit):
		d.fail("length or count %d > %d", n, limit)
	}
	if d.err != nil {
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

func (d *decoder) bytes() []byte {
	return d.next(d.uvarint(len(d.b)))
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// canonical rejects a payload whose re-encoding differs from it.
func canonical(payload, reencoded []byte) error {
	if !bytes.Equal(payload, reencoded) {
		return fmt.Errorf("%w: payload is not in canonical form", ErrMalformed)
	}
	return nil
}
