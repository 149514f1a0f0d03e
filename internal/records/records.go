package records

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
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

	// MaxPresenceTTL is the longest a presence record may live: one
	// expiring later than now + MaxPresenceTTL + ClockSkew is rejected.
	// Devices re-publish well before; addresses go stale fast.
	MaxPresenceTTL = 48 * time.Hour
	// MaxAccountTTL is the longest an account record may live. It is long
	// so that member devices, which cannot sign the record, keep the
	// account reachable by republishing the admin-signed bytes while every
	// admin device is offline for weeks (docs/protocol.md, "DHT records").
	MaxAccountTTL = 30 * 24 * time.Hour
	// MaxTTL is the longest any record may live (the longer of the two);
	// the DHT's record age limit (DHTOptions) is MaxTTL + ClockSkew.
	MaxTTL = MaxAccountTTL
	// ClockSkew is the tolerance for clocks of publisher and validator that
	// disagree, added to the TTL limit when checking an expiry.
	ClockSkew = time.Minute

	// MaxAddrs bounds the addresses in a presence record.
	MaxAddrs = 32
	// MaxDevices bounds the devices listed in an account record.
	MaxDevices = 16

	// MaxCertSize bounds each certificate (DER) in an account record: the
	// account's and each device's. The same bound as callproto.MaxCertSize,
	// so a device that can be listed can also place calls.
	MaxCertSize = 4096
	// MaxCRLSize bounds the CRL (DER) in an account record.
	MaxCRLSize = 32 << 10
	// MaxAddrLen bounds one binary multiaddr in a presence record.
	MaxAddrLen = 512

	// AccountContext is the signing context of account records (signed by
	// the account key).
	AccountContext = "parley/account-record/v1"
	// PresenceContext is the signing context of presence records (signed
	// by the device key).
	PresenceContext = "parley/presence/v1"
)

// Payload versions: the version byte that starts a payload. Account
// records are at version 2 (version 1 had no admin list); presence records
// are at version 1.
const (
	presenceVersion = 1
	accountVersion  = 2
)

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
func checkTTL(ttl, limit time.Duration) error {
	if ttl < time.Second || ttl > limit {
		return fmt.Errorf("%w: %v not in [1s, %v]", ErrBadTTL, ttl, limit)
	}
	return nil
}

// expiry turns now + ttl into the second-precision expiry put on the wire.
func expiry(now time.Time, ttl time.Duration) time.Time {
	return time.Unix(now.Add(ttl).Unix(), 0)
}

// checkHeader rejects expired records, records expiring too late and
// records whose sequence number is ahead of the validator's clock.
//
// A sequence number is the publisher's clock in Unix milliseconds (or one
// more than its previous record's, if that is larger). One more than
// ClockSkew ahead of now is refused: otherwise a record with sequence
// 2^64-1 would win over every honest record that follows and lock the
// account or device out of the DHT for good.
func checkHeader(h header, now time.Time, maxTTL time.Duration) error {
	if limit := MaxSeq(now); h.Seq > limit {
		return fmt.Errorf("%w: %d is after %d (now %v plus %v)", ErrSeqTooFar, h.Seq, limit, now.UTC(), ClockSkew)
	}
	return checkExpiry(h.Expires, now, maxTTL)
}

// MaxSeq is the largest sequence number a record may carry at now: the
// clock in Unix milliseconds plus ClockSkew.
func MaxSeq(now time.Time) uint64 {
	ms := now.Add(ClockSkew).UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}

// checkExpiry rejects expired records and records expiring too late.
func checkExpiry(expires, now time.Time, maxTTL time.Duration) error {
	if !expires.After(now) {
		return fmt.Errorf("%w: at %v", ErrExpired, expires.UTC())
	}
	if limit := now.Add(maxTTL + ClockSkew); expires.After(limit) {
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

// encodeHeader appends the fields both payloads start with.
func encodeHeader(e *wire.Encoder, version uint8, h header) {
	e.Uint8(version)
	e.Uint64(h.Seq)
	e.Uint64(uint64(h.Expires.Unix()))
}

// decodeHeader reads the fields both payloads start with and refuses other
// payload versions.
func decodeHeader(d *wire.Decoder, version uint8) header {
	if v := d.Uint8(); d.Err() == nil && v != version {
		d.Fail(fmt.Errorf("payload version %d, want %d", v, version))
	}
	return header{Seq: d.Uint64(), Expires: time.Unix(int64(d.Uint64()), 0)}
}

// decodeCount reads a count that the caller checks against its own bound
// (to report ErrTooManyDevices or ErrTooManyAddrs); it is never more than
// the bytes left, each item taking at least one.
func decodeCount(d *wire.Decoder) int { return d.Count(d.Remaining()) }

// finish ends decoding; its error wraps ErrMalformed.
func finish(d *wire.Decoder) error {
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// canonical rejects a payload whose re-encoding differs from it.
func canonical(payload, reencoded []byte) error {
	if !bytes.Equal(payload, reencoded) {
		return fmt.Errorf("%w: payload is not in canonical form", ErrMalformed)
	}
	return nil
}
