package store

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/crypto"
	bolt "go.etcd.io/bbolt"
)

// Identity is this node's identity: the account key (admin devices only) and
// certificate and this device's key and certificate. The seeds are private
// keys in plain; never log an Identity.
type Identity struct {
	AccountKeySeed []byte    // 32-byte Ed25519 seed of the account key; nil on a member device
	AccountCert    []byte    // DER self-signed account CA certificate
	DeviceKeySeed  []byte    // 32-byte Ed25519 seed of this device's key
	DeviceCert     []byte    // DER device certificate signed by the account
	DeviceName     string    // human name of this device, at most 128 bytes
	Created        time.Time // when the identity was made; zero means now
}

// identityKey is the only key in bucketIdentity.
var identityKey = []byte("identity")

// IsAdmin reports whether the identity holds the account key.
func (id *Identity) IsAdmin() bool { return len(id.AccountKeySeed) > 0 }

// identityRecord is the JSON stored under identityKey.
//
// Keys holds, on an admin device, the account seed followed by the device
// seed (64 bytes), on a member device the device seed alone (32 bytes).
// When Sealed is true it holds crypto.Seal(passphrase, thoseSeeds)
// instead, so one argon2id run unseals both. Version 1 records (before
// member devices) were all admins; migrateV7 rewrites them to version 2.
type identityRecord struct {
	V           int       `json:"v"`
	Admin       bool      `json:"admin"`
	Sealed      bool      `json:"sealed"`
	Keys        []byte    `json:"keys"`
	AccountCert []byte    `json:"account_cert"`
	DeviceCert  []byte    `json:"device_cert"`
	DeviceName  string    `json:"device_name"`
	Created     time.Time `json:"created"`
}

// identityVersion is the "v" of identity records this build reads and writes.
const identityVersion = 2

const seedsLen = 2 * ed25519.SeedSize

// validate checks the fields of an Identity given to CreateIdentity.
func (id *Identity) validate() error {
	switch {
	case id.AccountKeySeed != nil && len(id.AccountKeySeed) != ed25519.SeedSize:
		return fmt.Errorf("%w: account key seed is %d bytes, want %d",
			ErrInvalid, len(id.AccountKeySeed), ed25519.SeedSize)
	case len(id.DeviceKeySeed) != ed25519.SeedSize:
		return fmt.Errorf("%w: device key seed is %d bytes, want %d",
			ErrInvalid, len(id.DeviceKeySeed), ed25519.SeedSize)
	}
	if err := checkDER("account certificate", id.AccountCert); err != nil {
		return err
	}
	if err := checkDER("device certificate", id.DeviceCert); err != nil {
		return err
	}
	return checkText("device name", id.DeviceName, maxNameLen)
}

// AccountState is what a new device starts with besides its identity: the
// account's state, from an archive (restore, link) or just its own
// certificate (a new account). CreateAccount stores it with the identity.
type AccountState struct {
	// DeviceCerts are the account's device certificates (DER) by device
	// ID. The new device's own certificate must be among them.
	DeviceCerts map[crypto.DeviceID][]byte
	// CRL is the account's certificate revocation list (DER) and CRLNumber
	// its number; CRL is nil when the account has none. A stored CRL with
	// a number at least as high is kept.
	CRL       []byte
	CRLNumber uint64
	// Contacts replace stored contacts of the same account ID.
	Contacts []Contact
	// Settings replace stored settings of the same key.
	Settings map[string]string
	// PresenceKey is the account's presence key (a new account's first,
	// or the one a link or restore brought); zero stores none (the node
	// makes one on its first run).
	PresenceKey PresenceKey
}

// validate checks the state given to CreateAccount for identity id.
func (a *AccountState) validate(id *Identity) error {
	own := false
	for dev, der := range a.DeviceCerts {
		if err := checkDevice("device ID", dev); err != nil {
			return err
		}
		if err := checkDER("device certificate", der); err != nil {
			return err
		}
		own = own || bytes.Equal(der, id.DeviceCert)
	}
	if !own {
		return fmt.Errorf("%w: the device's own certificate is not among the account's device certificates", ErrInvalid)
	}
	if a.CRL != nil {
		if err := checkDER("CRL", a.CRL); err != nil {
			return err
		}
	}
	for i := range a.Contacts {
		if err := a.Contacts[i].validate(); err != nil {
			return err
		}
	}
	for k, v := range a.Settings {
		if err := checkKey("setting key", k); err != nil {
			return err
		}
		if len(v) > maxSettingLen {
			return fmt.Errorf("%w: setting %q is %d bytes, max %d", ErrInvalid, k, len(v), maxSettingLen)
		}
	}
	return nil
}

// CreateIdentity stores id. It fails with ErrIdentityExists when the store
// already holds an identity: an identity is never overwritten. When the
// store was opened with a passphrase the seeds are sealed first (which costs
// one argon2id run). A device that runs needs its own certificate among the
// account's device certificates too: CreateAccount stores both at once.
func (s *Store) CreateIdentity(id Identity) error {
	return s.createIdentity(id, nil)
}

// CreateAccount stores a new device's identity together with the account
// state it starts with, in one transaction: a crash leaves either nothing
// (and init, restore or link can run again) or a device that has all of it
// (never an identity whose own device is missing from the account's
// devices, which would publish records without it). It fails like
// CreateIdentity, and with ErrInvalid when st is malformed or lacks the
// device's own certificate.
func (s *Store) CreateAccount(id Identity, st AccountState) error {
	return s.createIdentity(id, &st)
}

func (s *Store) createIdentity(id Identity, st *AccountState) error {
	if err := id.validate(); err != nil {
		return fmt.Errorf("store: create identity: %w", err)
	}
	if st != nil {
		if err := st.validate(&id); err != nil {
			return fmt.Errorf("store: create identity: %w", err)
		}
	}
	seeds := make([]byte, 0, seedsLen)
	seeds = append(append(seeds, id.AccountKeySeed...), id.DeviceKeySeed...)
	defer clear(seeds)
	rec := identityRecord{
		V:           identityVersion,
		Admin:       id.IsAdmin(),
		Keys:        seeds,
		AccountCert: id.AccountCert,
		DeviceCert:  id.DeviceCert,
		DeviceName:  id.DeviceName,
		Created:     id.Created,
	}
	if rec.Created.IsZero() {
		rec.Created = s.now()
	}
	rec.Created = rec.Created.UTC().Round(0)
	if len(s.pass) > 0 {
		sealed, err := crypto.Seal(s.pass, seeds, s.kdf)
		if err != nil {
			return fmt.Errorf("store: create identity: seal keys: %w", err)
		}
		rec.Sealed, rec.Keys = true, sealed
	}
	var pk *presenceKeyRecord
	if st != nil && !st.PresenceKey.IsZero() {
		var err error
		if pk, err = s.newPresenceKeyRecord(st.PresenceKey); err != nil {
			return fmt.Errorf("store: create identity: %w", err)
		}
		defer clear(pk.Key)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketIdentity)
		if err != nil {
			return err
		}
		if b.Get(identityKey) != nil {
			return ErrIdentityExists
		}
		if st != nil {
			if err := s.putAccountStateTx(tx, st); err != nil {
				return err
			}
		}
		if pk != nil {
			if err := putJSON(b, presenceKeyKey, pk); err != nil {
				return err
			}
		}
		return putJSON(b, identityKey, &rec)
	})
	if err != nil {
		return fmt.Errorf("store: create identity: %w", err)
	}
	return nil
}

// putAccountStateTx writes st (validated) in tx.
func (s *Store) putAccountStateTx(tx *bolt.Tx, st *AccountState) error {
	certs, err := bucket(tx, bucketDeviceCert)
	if err != nil {
		return err
	}
	for dev, der := range st.DeviceCerts {
		if err := certs.Put(deviceKey(dev), der); err != nil {
			return err
		}
	}
	if st.CRL != nil {
		b, err := bucket(tx, bucketCRL)
		if err != nil {
			return err
		}
		have, ok, err := crlNumber(b)
		if err != nil {
			return err
		}
		if !ok || st.CRLNumber > have {
			if err := b.Put(crlKeyDER, st.CRL); err != nil {
				return err
			}
			if err := b.Put(crlKeyNumber, binary.BigEndian.AppendUint64(nil, st.CRLNumber)); err != nil {
				return err
			}
		}
	}
	for _, c := range st.Contacts {
		if err := s.putContactTx(tx, c); err != nil {
			return err
		}
	}
	settings, err := bucket(tx, bucketSettings)
	if err != nil {
		return err
	}
	for k, v := range st.Settings {
		if err := settings.Put([]byte(k), []byte(v)); err != nil {
			return err
		}
	}
	return nil
}

// Identity returns the stored identity, unsealing the keys with the
// passphrase the store was opened with (one argon2id run each call). It
// returns ErrNoIdentity when there is none, ErrPassphraseRequired when the
// keys are sealed and the store has no passphrase, and an error wrapping
// crypto.ErrWrongPassphrase when the passphrase is wrong. Keys stored in
// plain are returned whether or not the store has a passphrase; KeysSealed
// tells which is the case.
func (s *Store) Identity() (Identity, error) {
	rec, err := s.identityRecord()
	if err != nil {
		return Identity{}, fmt.Errorf("store: identity: %w", err)
	}
	seeds := rec.Keys
	if rec.Sealed {
		if len(s.pass) == 0 {
			return Identity{}, fmt.Errorf("store: identity: %w", ErrPassphraseRequired)
		}
		if seeds, err = crypto.Open(s.pass, rec.Keys); err != nil {
			return Identity{}, fmt.Errorf("store: identity: unseal keys: %w", err)
		}
		clear(rec.Keys)
	}
	defer clear(seeds)
	want := ed25519.SeedSize
	if rec.Admin {
		want = seedsLen
	}
	if len(seeds) != want {
		return Identity{}, fmt.Errorf("store: identity: %w: keys are %d bytes, want %d",
			ErrCorrupt, len(seeds), want)
	}
	var accountSeed []byte
	if rec.Admin {
		accountSeed = append([]byte(nil), seeds[:ed25519.SeedSize]...)
	}
	return Identity{
		AccountKeySeed: accountSeed,
		AccountCert:    rec.AccountCert,
		DeviceKeySeed:  append([]byte(nil), seeds[want-ed25519.SeedSize:]...),
		DeviceCert:     rec.DeviceCert,
		DeviceName:     rec.DeviceName,
		Created:        rec.Created,
	}, nil
}

// HasIdentity reports whether the store holds an identity. It does not
// unseal anything.
func (s *Store) HasIdentity() (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketIdentity)
		if err != nil {
			return err
		}
		ok = b.Get(identityKey) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: has identity: %w", err)
	}
	return ok, nil
}

// KeysSealed reports whether the stored private keys are sealed with a
// passphrase. It returns ErrNoIdentity when there is no identity.
func (s *Store) KeysSealed() (bool, error) {
	rec, err := s.identityRecord()
	if err != nil {
		return false, fmt.Errorf("store: keys sealed: %w", err)
	}
	clear(rec.Keys)
	return rec.Sealed, nil
}

// identityRecord reads and checks the stored identity record.
func (s *Store) identityRecord() (identityRecord, error) {
	var rec identityRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketIdentity)
		if err != nil {
			return err
		}
		ok, err := getJSON(b, identityKey, &rec)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoIdentity
		}
		return nil
	})
	if err != nil {
		return identityRecord{}, err
	}
	if rec.V != identityVersion {
		return identityRecord{}, fmt.Errorf("%w: identity record version %d, want %d", ErrCorrupt, rec.V, identityVersion)
	}
	if rec.Sealed && len(rec.Keys) > maxSealedLen {
		return identityRecord{}, fmt.Errorf("%w: sealed keys are %d bytes", ErrCorrupt, len(rec.Keys))
	}
	return rec, nil
}

// PublicIdentity is the part of the identity that is not secret.
type PublicIdentity struct {
	AccountCert []byte // DER
	DeviceCert  []byte // DER
	DeviceName  string
	Created     time.Time
	Sealed      bool // the private keys are sealed with a passphrase
	Admin       bool // the device holds the account key
}

// PublicIdentity returns the certificates and name of the stored identity
// without touching the private keys: no passphrase is needed and no
// argon2id run is paid. It returns ErrNoIdentity when there is none.
func (s *Store) PublicIdentity() (PublicIdentity, error) {
	rec, err := s.identityRecord()
	if err != nil {
		return PublicIdentity{}, fmt.Errorf("store: identity: %w", err)
	}
	clear(rec.Keys)
	return PublicIdentity{AccountCert: rec.AccountCert, DeviceCert: rec.DeviceCert, DeviceName: rec.DeviceName, Created: rec.Created, Sealed: rec.Sealed, Admin: rec.Admin}, nil
}

// PromoteIdentity makes this device an admin: it adds the account key seed
// to the stored identity, sealed again with the store's passphrase when the
// keys are sealed. It fails with ErrAlreadyAdmin when the device is an admin
// already. The caller checks that the seed is the account's.
func (s *Store) PromoteIdentity(accountSeed []byte) error {
	if len(accountSeed) != ed25519.SeedSize {
		return fmt.Errorf("store: promote: %w: account key seed is %d bytes, want %d", ErrInvalid, len(accountSeed), ed25519.SeedSize)
	}
	id, err := s.Identity()
	if err != nil {
		return fmt.Errorf("store: promote: %w", err)
	}
	defer clear(id.DeviceKeySeed)
	if id.IsAdmin() {
		clear(id.AccountKeySeed)
		return fmt.Errorf("store: promote: %w", ErrAlreadyAdmin)
	}
	seeds := append(append(make([]byte, 0, seedsLen), accountSeed...), id.DeviceKeySeed...)
	defer clear(seeds)
	keys, sealed := seeds, false
	if len(s.pass) > 0 {
		if keys, err = crypto.Seal(s.pass, seeds, s.kdf); err != nil {
			return fmt.Errorf("store: promote: seal keys: %w", err)
		}
		sealed = true
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketIdentity)
		if err != nil {
			return err
		}
		var rec identityRecord
		if ok, err := getJSON(b, identityKey, &rec); err != nil || !ok {
			return errors.Join(err, ErrNoIdentity)
		}
		if rec.Admin {
			return ErrAlreadyAdmin
		}
		rec.Admin, rec.Sealed, rec.Keys = true, sealed, keys
		return putJSON(b, identityKey, &rec)
	})
	if err != nil {
		return fmt.Errorf("store: promote: %w", err)
	}
	return nil
}
