// Package store keeps a Parley node's state in one bbolt file: the identity
// (account and device keys and certificates), the device certificates of the
// account, the account's CRL, contacts with their request state, and
// settings.
//
// A Store is opened on a data dir with Open. The dir is created 0700 and
// refused if it is group- or world-writable; the database file parley.db is
// 0600. bbolt holds an exclusive flock on the file while it is open, so a
// second parleyd on the same dir fails with ErrLocked after Options.Timeout
// instead of hanging. Every commit is fsynced (bbolt's default), so data a
// method has returned from survives kill -9 and power loss.
//
// Values are JSON objects with a "v" version field, or raw DER for
// certificates and CRLs; docs/store.md describes the buckets and encodings.
// The file carries a schema version in the "meta" bucket; Open migrates
// older files forward and refuses newer ones with ErrSchemaTooNew.
//
// Every method runs in a single bbolt transaction and copies values out
// before it ends, so returned slices are owned by the caller. A Store is safe
// for concurrent use.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/parleyhq/parley/crypto"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the database file inside the data dir.
const FileName = "parley.db"

const (
	dirMode         = 0o700
	fileMode        = 0o600
	defaultTimeout  = time.Second
	insecureDirBits = 0o022
)

// Options configure Open. The zero value (or a nil *Options) is valid.
type Options struct {
	// Passphrase, when set, seals private keys at rest with crypto.Seal
	// (argon2id + XChaCha20-Poly1305), and unseals them in Identity. When
	// empty, keys are stored in plain and protected only by the file mode.
	// Open copies it; the caller may wipe its own copy afterwards.
	Passphrase []byte

	// KDF are the argon2id parameters used when sealing. Zero means
	// crypto.DefaultKDFParams. Unsealing reads the parameters from the
	// sealed blob, so changing this does not affect existing keys.
	KDF crypto.KDFParams

	// Timeout is how long Open waits for the file lock held by another
	// process before failing with ErrLocked. Zero or negative means 1s.
	Timeout time.Duration

	// Now returns the current time, for record timestamps. Nil means
	// time.Now.
	Now func() time.Time
}

// Store is an open Parley database. Create one with Open and release it with
// Close.
type Store struct {
	db   boltDB // *bolt.DB with the test crash point (testhooks.go)
	path string
	now  func() time.Time
	kdf  crypto.KDFParams
	pass []byte // copy of Options.Passphrase; wiped by Close
}

// Open opens (creating if needed) the store in dir. See the package
// documentation for permissions and locking; it returns ErrInsecureDir,
// ErrLocked or ErrSchemaTooNew (wrapped) in those cases.
func Open(dir string, o *Options) (*Store, error) {
	return open(dir, o, migrations)
}

// open is Open with an explicit migration list, so tests can add steps.
func open(dir string, o *Options, migs []migration) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	// An absolute path makes error messages (ErrLocked) unambiguous.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	path := filepath.Join(dir, FileName)
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	db, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open: %w: another process holds the lock on %s; "+
			"stop the other parleyd or use a different --data dir", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{
		db:   boltDB{db, path},
		path: path,
		now:  o.Now,
		kdf:  o.KDF,
		pass: append([]byte(nil), o.Passphrase...),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.kdf == (crypto.KDFParams{}) {
		s.kdf = crypto.DefaultKDFParams
	}
	if err := tightenFile(path); err != nil {
		s.Close()
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error { return migrate(tx, migs) }); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// prepareDir creates dir 0700 if it is missing, and refuses an existing dir
// that others can write to. A dir that is merely readable by others (0750,
// 0755) is left alone: the file inside is 0600.
func prepareDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("store: open: %w: empty data dir", ErrInvalid)
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return fmt.Errorf("store: open: create data dir: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("store: open: %w: %s is not a directory", ErrInvalid, dir)
	}
	if perm := fi.Mode().Perm(); perm&insecureDirBits != 0 {
		return fmt.Errorf("store: open: %w: %s has mode %#o; run chmod 700 on it",
			ErrInsecureDir, dir, perm)
	}
	return nil
}

// tightenFile makes sure the database file is not readable by others, even
// if it was created or copied with a wider mode.
func tightenFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	if fi.Mode().Perm()&^fs.FileMode(fileMode) != 0 {
		if err := os.Chmod(path, fileMode); err != nil {
			return fmt.Errorf("store: open: restrict file mode: %w", err)
		}
	}
	return nil
}

// Close releases the file lock and closes the database. It wipes the
// in-memory copy of the passphrase. Calling Close twice is harmless.
func (s *Store) Close() error {
	clear(s.pass)
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the path of the database file.
func (s *Store) Path() string { return s.path }

// Check runs bbolt's consistency check over the whole file and returns the
// first problem found, or nil.
func (s *Store) Check() error {
	err := s.db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			// Keep draining so the checker goroutine can finish.
			if first == nil {
				first = err
			}
		}
		return first
	})
	if err != nil {
		return fmt.Errorf("store: check %s: %w", s.path, err)
	}
	return nil
}
