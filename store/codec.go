package store

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// recordVersion is the "v" field of every JSON record this build writes.
// A reader refuses other versions with ErrCorrupt; a format change that old
// builds must not misread bumps it together with a schema migration.
const recordVersion = 1

// Size bounds. They keep records small and reject garbage early; none is a
// protocol limit.
const (
	maxKeyLen     = 256      // call IDs, setting keys, message kinds
	maxNameLen    = 128      // contact and device names
	maxMessageLen = 1024     // contact request message
	maxDERLen     = 64 << 10 // one certificate or CRL
	maxSettingLen = 64 << 10 // one setting value
	maxSealedLen  = 4 << 10  // sealed key blob
)

// bucket returns the named bucket, or ErrCorrupt when a bucket that Open
// should have created is missing.
func bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("%w: bucket %s missing", ErrCorrupt, name)
	}
	return b, nil
}

// putJSON encodes v and stores it under key.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return b.Put(key, raw)
}

// getJSON decodes the value under key into v. It reports false when the key
// is absent. json.Unmarshal copies everything out of the mmap, so v stays
// valid after the transaction.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, decodeJSON(raw, v)
}

// decodeJSON decodes raw into v and maps every failure to ErrCorrupt.
func decodeJSON(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

// checkVersion refuses a record written with another format version.
func checkVersion(v int) error {
	if v != recordVersion {
		return fmt.Errorf("%w: record version %d, want %d", ErrCorrupt, v, recordVersion)
	}
	return nil
}

// checkKey validates a bucket key given by a caller (an ID or setting key).
func checkKey(what, k string) error {
	switch {
	case k == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(k) > maxKeyLen:
		return fmt.Errorf("%w: %s is %d bytes, max %d", ErrInvalid, what, len(k), maxKeyLen)
	case !utf8.ValidString(k):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	return nil
}

// The buckets keyed by an account (contacts, outbox) or a device (device
// certificates, device metadata) use the ID's canonical text form as the
// key, as every version of the store has. The API takes and returns typed
// IDs; these helpers are the only place that converts.

// accountKey is the bucket key of an account.
func accountKey(id crypto.AccountID) []byte { return []byte(id.String()) }

// checkAccount refuses the zero account ID (no account).
func checkAccount(what string, id crypto.AccountID) error {
	if id.IsZero() {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	return nil
}

// parseAccountKey reads an account bucket key back.
func parseAccountKey(k []byte) (crypto.AccountID, error) {
	id, err := crypto.ParseAccountID(string(k))
	if err != nil {
		return crypto.AccountID{}, fmt.Errorf("%w: key %q: %w", ErrCorrupt, k, err)
	}
	return id, nil
}

// deviceKey is the bucket key of a device.
func deviceKey(d crypto.DeviceID) []byte { return []byte(d.String()) }

// checkDevice refuses an empty device ID and one that does not hold an
// Ed25519 device key (a DeviceID converted from arbitrary bytes).
func checkDevice(what string, d crypto.DeviceID) error {
	if d == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	if _, err := d.PublicKey(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
	}
	return nil
}

// parseDeviceKey reads a device bucket key back.
func parseDeviceKey(k []byte) (crypto.DeviceID, error) {
	d, err := crypto.ParseDeviceID(string(k))
	if err != nil {
		return "", fmt.Errorf("%w: key %q: %w", ErrCorrupt, k, err)
	}
	return d, nil
}

// checkText validates a free-text field: valid UTF-8 and at most max bytes.
func checkText(what, s string, limit int) error {
	switch {
	case len(s) > limit:
		return fmt.Errorf("%w: %s is %d bytes, max %d", ErrInvalid, what, len(s), limit)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	return nil
}

// checkDER validates the size of a certificate or CRL. The store does not
// parse DER; package crypto verifies certificates before they are stored.
func checkDER(what string, der []byte) error {
	switch {
	case len(der) == 0:
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(der) > maxDERLen:
		return fmt.Errorf("%w: %s is %d bytes, max %d", ErrInvalid, what, len(der), maxDERLen)
	}
	return nil
}
