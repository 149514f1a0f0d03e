package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. See docs/store.md for what each holds.
var (
	bucketMeta       = []byte("meta")
	bucketIdentity   = []byte("identity")
	bucketDeviceCert = []byte("devicecerts")
	bucketCRL        = []byte("crl")
	bucketContacts   = []byte("contacts")
	bucketSettings   = []byte("settings")
	bucketOutbox     = []byte("outbox")
	bucketCalls      = []byte("calls")
	bucketSync       = []byte("sync")
	bucketDeviceMeta = []byte("devicemeta")
	bucketPins       = []byte("pins")
	bucketQueue      = []byte("queue")
	bucketOwnRecord  = []byte("ownrecord")
)

// keySchema is the key in bucketMeta holding the schema version as an 8-byte
// big-endian unsigned integer. A file without it is at version 0 (empty).
var keySchema = []byte("schema")

// A migration moves the file from schema version i to i+1, where i is its
// index in the list. It runs inside the single write transaction of Open, so
// a failed or interrupted migration leaves the file at the old version.
type migration func(tx *bolt.Tx) error

// migrations is the ordered list of schema steps; the current schema version
// is len(migrations). Append to it, never edit or reorder released steps.
var migrations = []migration{
	migrateV1,
	migrateV2,
	migrateV3,
	migrateV4,
	migrateV5,
	migrateV6,
	migrateV7,
}

// migrateV1 creates the buckets of schema 1.
func migrateV1(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketIdentity, bucketDeviceCert, bucketCRL, bucketContacts, bucketSettings} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV2 adds the outbox of undelivered contact messages.
func migrateV2(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketOutbox); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketOutbox, err)
	}
	return nil
}

// migrateV3 adds the call history.
func migrateV3(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketCalls); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketCalls, err)
	}
	return nil
}

// migrateV4 adds the replicated-state entries shared by the devices of an
// account and what a device knows about the others.
func migrateV4(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketSync, bucketDeviceMeta} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV5 adds the per-account pins of the newest record accepted (record
// sequence, CRL number, revoked serials), which refuse rollbacks.
func migrateV5(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketPins); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketPins, err)
	}
	return nil
}

// migrateV6 adds the durable queue of record pushes and revocation notices.
func migrateV6(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketQueue); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketQueue, err)
	}
	return nil
}

// migrateV7 introduces member devices: it rewrites the identity record to
// version 2, which says whether the device holds the account key (every
// version 1 identity did: it was an admin, and its keys keep their layout,
// so sealed keys need no passphrase here), and adds the bucket holding the
// newest admin-signed account record of the device's own account.
func migrateV7(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketOwnRecord); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketOwnRecord, err)
	}
	b := tx.Bucket(bucketIdentity)
	if b == nil {
		return fmt.Errorf("%w: bucket %s missing", ErrCorrupt, bucketIdentity)
	}
	var rec identityRecord
	ok, err := getJSON(b, identityKey, &rec)
	if err != nil || !ok {
		return err
	}
	if rec.V != 1 {
		return fmt.Errorf("%w: identity record version %d, want 1", ErrCorrupt, rec.V)
	}
	rec.V, rec.Admin = identityVersion, true
	return putJSON(b, identityKey, &rec)
}

// migrate brings the file in tx up to len(migs), or refuses a newer file.
func migrate(tx *bolt.Tx, migs []migration) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create bucket meta: %w", err)
	}
	have, err := schemaVersion(meta)
	if err != nil {
		return err
	}
	want := uint64(len(migs))
	if have > want {
		return fmt.Errorf("%w: the file has schema %d and this build knows up to %d; "+
			"upgrade Parley", ErrSchemaTooNew, have, want)
	}
	for v := have; v < want; v++ {
		if err := migs[v](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	if have == want {
		return nil
	}
	return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, want))
}

// schemaVersion reads the schema version from the meta bucket.
func schemaVersion(meta *bolt.Bucket) (uint64, error) {
	raw := meta.Get(keySchema)
	if raw == nil {
		return 0, nil
	}
	if len(raw) != 8 {
		return 0, fmt.Errorf("%w: schema version is %d bytes, want 8", ErrCorrupt, len(raw))
	}
	return binary.BigEndian.Uint64(raw), nil
}

// SchemaVersion returns the schema version of the open file, which after a
// successful Open is the current version of this build.
func (s *Store) SchemaVersion() (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: no meta bucket", ErrCorrupt)
		}
		var err error
		v, err = schemaVersion(meta)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}
