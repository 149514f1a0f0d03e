package store

import (
	"slices"

	"github.com/parleyhq/parley/crypto"
	bolt "go.etcd.io/bbolt"
)

// CurrentSchemaForTest is the schema version this build writes.
func CurrentSchemaForTest() uint64 { return uint64(len(migrations)) }

// OpenWithMigrationsForTest opens dir like Open, with extra schema steps
// appended after the real ones, so tests can exercise the migration hook
// without touching the package-level list.
func OpenWithMigrationsForTest(dir string, o *Options, extra ...func(tx *bolt.Tx) error) (*Store, error) {
	migs := slices.Clone(migrations)
	for _, m := range extra {
		migs = append(migs, m)
	}
	return open(dir, o, migs)
}

// PutRawForTest writes raw bytes under key in bucket, bypassing all
// encoding and validation, to simulate damaged or foreign records.
func (s *Store) PutRawForTest(bucket, key string, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), val)
	})
}

// GetRawForTest returns a copy of the raw bytes under key in bucket, or nil.
func (s *Store) GetRawForTest(bucket, key string) []byte {
	var out []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			out = slices.Clone(b.Get([]byte(key)))
		}
		return nil
	})
	return out
}

// KDFForTest returns the KDF parameters the store seals with.
func (s *Store) KDFForTest() crypto.KDFParams { return s.kdf }

// HasBucketForTest reports whether the top-level bucket exists.
func (s *Store) HasBucketForTest(name string) bool {
	var ok bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket([]byte(name)) != nil
		return nil
	})
	return ok
}

// OpenAtSchemaForTest opens dir with only the first n schema steps, to make
// a file as an older build left it.
func OpenAtSchemaForTest(dir string, o *Options, n int) (*Store, error) {
	return open(dir, o, migrations[:n])
}
