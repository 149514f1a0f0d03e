package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// PresenceKeyLen is the length of an account's presence key.
const PresenceKeyLen = 32

// PresenceKey is an account's presence key and its generation
// (docs/protocol.md, "Presence for contacts only"): the key its devices
// seal their presence records under, which only the account's own devices
// and its accepted contacts hold. Key is secret; never log a PresenceKey.
// The zero value (generation 0) is no key.
type PresenceKey struct {
	Key [PresenceKeyLen]byte
	Gen uint32
}

// NewPresenceKey draws a random presence key of generation gen.
func NewPresenceKey(gen uint32) (PresenceKey, error) {
	k := PresenceKey{Gen: gen}
	if _, err := rand.Read(k.Key[:]); err != nil {
		return PresenceKey{}, fmt.Errorf("store: new presence key: %w", err)
	}
	return k, nil
}

// IsZero reports whether k is no key.
func (k PresenceKey) IsZero() bool { return k.Gen == 0 }

// hash is SHA-256 of the key, the tie-break between keys of one
// generation (not secret: it reveals nothing of the key).
func (k PresenceKey) hash() [sha256.Size]byte { return sha256.Sum256(k.Key[:]) }

// Newer reports whether k supersedes o: a higher generation, or on equal
// generations the larger SHA-256 of the key. Every device that has seen the
// same keys keeps the same one, whatever the order they arrived in.
func (k PresenceKey) Newer(o PresenceKey) bool {
	if k.Gen != o.Gen {
		return k.Gen > o.Gen
	}
	kh, oh := k.hash(), o.hash()
	return bytes.Compare(kh[:], oh[:]) > 0
}

// presenceKeyKey is the key of the own presence key in bucketIdentity.
var presenceKeyKey = []byte("presence-key")

// presenceKeyRecord is the JSON stored under presenceKeyKey. Key holds the
// 32-byte key, or crypto.Seal(passphrase, key) when Sealed (the store was
// opened with a passphrase, as for the identity's seeds). Gen and Hash
// (SHA-256 of the key) are in clear so that a key from another device is
// compared without an argon2id run.
type presenceKeyRecord struct {
	V      int    `json:"v"`
	Gen    uint32 `json:"gen"`
	Hash   []byte `json:"hash"`
	Sealed bool   `json:"sealed,omitempty"`
	Key    []byte `json:"key"`
}

// PresenceKey returns the account's presence key as this device holds it,
// unsealing it with the store's passphrase when it is sealed (one argon2id
// run). It returns ErrNotFound when the device holds none yet,
// ErrPassphraseRequired when it is sealed and the store has no passphrase.
func (s *Store) PresenceKey() (PresenceKey, error) {
	var rec presenceKeyRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketIdentity)
		if err != nil {
			return err
		}
		ok, err := getJSON(b, presenceKeyKey, &rec)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return PresenceKey{}, fmt.Errorf("store: presence key: %w", err)
	}
	k, err := s.openPresenceKey(rec)
	if err != nil {
		return PresenceKey{}, fmt.Errorf("store: presence key: %w", err)
	}
	return k, nil
}

func (s *Store) openPresenceKey(rec presenceKeyRecord) (PresenceKey, error) {
	if err := checkVersion(rec.V); err != nil {
		return PresenceKey{}, err
	}
	raw := rec.Key
	if rec.Sealed {
		if len(s.pass) == 0 {
			return PresenceKey{}, ErrPassphraseRequired
		}
		if len(raw) > maxSealedLen {
			return PresenceKey{}, fmt.Errorf("%w: sealed presence key is %d bytes", ErrCorrupt, len(raw))
		}
		var err error
		if raw, err = crypto.Open(s.pass, rec.Key); err != nil {
			return PresenceKey{}, fmt.Errorf("unseal: %w", err)
		}
		defer clear(raw)
	}
	if len(raw) != PresenceKeyLen || rec.Gen == 0 {
		return PresenceKey{}, fmt.Errorf("%w: presence key of %d bytes, generation %d", ErrCorrupt, len(raw), rec.Gen)
	}
	k := PresenceKey{Gen: rec.Gen}
	copy(k.Key[:], raw)
	if h := k.hash(); !bytes.Equal(h[:], rec.Hash) {
		return PresenceKey{}, fmt.Errorf("%w: presence key does not match its hash", ErrCorrupt)
	}
	return k, nil
}

// TakePresenceKey stores k as the account's presence key if it is newer
// (PresenceKey.Newer) than the one held, or none is held, and reports
// whether it did. The key is sealed with the store's passphrase when the
// store has one (one argon2id run, paid only when k is taken).
func (s *Store) TakePresenceKey(k PresenceKey) (bool, error) {
	if k.IsZero() {
		return false, fmt.Errorf("store: take presence key: %w: generation 0", ErrInvalid)
	}
	// Compare before sealing: most keys offered (every sync round) are
	// the one held.
	if held, ok, err := s.presenceKeyVersion(); err != nil {
		return false, err
	} else if ok && !k.newerThan(held) {
		return false, nil
	}
	rec, err := s.newPresenceKeyRecord(k)
	if err != nil {
		return false, fmt.Errorf("store: take presence key: %w", err)
	}
	defer clear(rec.Key)
	taken := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketIdentity)
		if err != nil {
			return err
		}
		taken = false
		var old presenceKeyRecord
		if ok, err := getJSON(b, presenceKeyKey, &old); err == nil && ok && !k.newerThan(old) {
			return nil
		}
		taken = true
		return putJSON(b, presenceKeyKey, rec)
	})
	if err != nil {
		return false, fmt.Errorf("store: take presence key: %w", err)
	}
	return taken, nil
}

// newPresenceKeyRecord is the record to store for k, sealed when the store
// has a passphrase.
func (s *Store) newPresenceKeyRecord(k PresenceKey) (*presenceKeyRecord, error) {
	h := k.hash()
	rec := &presenceKeyRecord{V: recordVersion, Gen: k.Gen, Hash: h[:], Key: append([]byte(nil), k.Key[:]...)}
	if len(s.pass) > 0 {
		sealed, err := crypto.Seal(s.pass, k.Key[:], s.kdf)
		if err != nil {
			return nil, fmt.Errorf("seal presence key: %w", err)
		}
		clear(rec.Key)
		rec.Sealed, rec.Key = true, sealed
	}
	return rec, nil
}

// presenceKeyVersion reads the generation and hash of the held key.
func (s *Store) presenceKeyVersion() (presenceKeyRecord, bool, error) {
	var rec presenceKeyRecord
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketIdentity)
		if err != nil {
			return err
		}
		ok, err = getJSON(b, presenceKeyKey, &rec)
		return err
	})
	if err != nil {
		return rec, false, fmt.Errorf("store: presence key: %w", err)
	}
	clear(rec.Key)
	return rec, ok, nil
}

// newerThan is Newer against a stored record's generation and hash.
func (k PresenceKey) newerThan(rec presenceKeyRecord) bool {
	if k.Gen != rec.Gen {
		return k.Gen > rec.Gen
	}
	h := k.hash()
	return bytes.Compare(h[:], rec.Hash) > 0
}
