// Package account is a device's identity: creating an account and its first
// device (InitAccount), restoring one from an archive, exporting it, loading
// the keys and certificates from the store (LoadIdentity) and the account's
// CRL. It is the bottom of the node's service chain (docs/architecture.md):
// it knows no protocol.
package account

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// Files written next to the store so that users and tools such as openssl can
// read the public certificates without the daemon.
const (
	AccountCertFile = "account.pem"
	DeviceCertFile  = "device.pem"
)

// MaxDeviceName bounds the device name carried in certificates.
const MaxDeviceName = 64

// AccountOptions configures the account operations on a data directory.
// The zero value is usable.
type AccountOptions struct {
	// DeviceName names this device in its certificate, which is published
	// in the account record: it is public. Defaults to "device" (not the
	// host name, which would leak into the DHT).
	DeviceName string
	// Passphrase, when set, seals the private keys in the store. Empty means
	// the keys are stored unsealed in a 0600 file.
	Passphrase []byte
	// KDF is the argon2id cost for sealing. Zero means
	// crypto.DefaultKDFParams.
	KDF pcrypto.KDFParams
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// LockTimeout bounds the wait for the store's file lock. Zero means the
	// store's default (1s).
	LockTimeout time.Duration
}

// Clock returns the current time by o.Now (time.Now when unset).
func (o *AccountOptions) Clock() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *AccountOptions) kdf() pcrypto.KDFParams {
	if o.KDF == (pcrypto.KDFParams{}) {
		return pcrypto.DefaultKDFParams
	}
	return o.KDF
}

// ValidDeviceName returns the device name to use (the default when
// unset), or ErrInvalidInput when it is too long.
func (o *AccountOptions) ValidDeviceName() (string, error) {
	name := o.DeviceName
	if name == "" {
		name = "device"
	}
	if len(name) > MaxDeviceName {
		return "", fmt.Errorf("%w: device name is %d bytes, at most %d allowed", ErrInvalidInput, len(name), MaxDeviceName)
	}
	return name, nil
}

func (o *AccountOptions) storeOptions() *store.Options {
	return &store.Options{Passphrase: o.Passphrase, KDF: o.kdf(), Timeout: o.LockTimeout, Now: o.Now}
}

// OpenStore opens the store of a data directory with the account options'
// passphrase and lock timeout.
func OpenStore(dir string, o AccountOptions) (*store.Store, error) {
	return store.Open(dir, o.storeOptions())
}

// InitAccount creates a new account and its first device in dir. It refuses
// to touch a data directory that already holds an identity.
func InitAccount(dir string, o AccountOptions) (*apitype.Identity, error) {
	name, err := o.ValidDeviceName()
	if err != nil {
		return nil, err
	}
	st, err := OpenEmpty(dir, o)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	ak, err := pcrypto.NewAccountKey(nil)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	defer ak.Wipe()
	now := o.Clock()
	// The account certificate carries no name: it is published, and a
	// device name is not the account's.
	ac, err := pcrypto.CreateAccountCert(ak, "", pcrypto.CertOptions{NotBefore: now.Add(-time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("init: account certificate: %w", err)
	}
	// The account's first presence key (docs/protocol.md, "Presence for
	// contacts only"), made with the account.
	pk, err := store.NewPresenceKey(1)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if err := addDevice(st, dir, ak, ac, name, now, store.AccountState{PresenceKey: pk}); err != nil {
		return nil, err
	}
	return Summary(st, dir)
}

// RestoreAccount creates a new device of the account held in an encrypted
// archive: it decrypts the archive, makes a fresh device key, issues its
// certificate with the account key, and stores the account's certificates,
// CRL, contacts and settings, all in one store transaction. It refuses a
// data directory that already holds an identity.
func RestoreAccount(dir string, archive, archivePassphrase []byte, o AccountOptions) (*apitype.Identity, error) {
	name, err := o.ValidDeviceName()
	if err != nil {
		return nil, err
	}
	a, err := pcrypto.DecryptArchive(archive, archivePassphrase)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if !a.HasAccountKey() {
		return nil, fmt.Errorf("restore: %w: the archive holds no account key; export one from an admin device with parley account export", ErrInvalidInput)
	}
	ak, err := pcrypto.AccountKeyFromSeed(a.AccountKeySeed)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer ak.Wipe()
	ac, err := pcrypto.ParseAccountCert(a.AccountCert)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	var crl *pcrypto.CRL
	if len(a.CRL) > 0 {
		if crl, err = pcrypto.ParseCRL(a.CRL); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		if err := crl.Verify(ac); err != nil {
			return nil, fmt.Errorf("restore: CRL: %w", err)
		}
	}

	state, err := ArchiveState(a, ac, crl, nil)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}

	st, err := OpenEmpty(dir, o)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := addDevice(st, dir, ak, ac, name, o.Clock(), state); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return Summary(st, dir)
}

// ArchiveState is what a device stores from an account archive besides its
// identity: the device certificates of the account that crl (nil: none)
// does not revoke, the CRL, the contacts, and the settings named in keep
// (all of the archive's when keep is nil). Restore and linking both use it.
func ArchiveState(a *pcrypto.Archive, ac *pcrypto.AccountCert, crl *pcrypto.CRL, keep []string) (store.AccountState, error) {
	st := store.AccountState{DeviceCerts: map[pcrypto.DeviceID][]byte{}, Settings: map[string]string{}}
	for _, der := range a.DeviceCerts {
		dc, err := pcrypto.ParseDeviceCert(der)
		if err != nil {
			return store.AccountState{}, err
		}
		if (crl != nil && crl.IsRevoked(dc.Serial())) || dc.Account != ac.ID {
			continue
		}
		st.DeviceCerts[dc.Device] = der
	}
	if crl != nil {
		st.CRL, st.CRLNumber = crl.Raw(), crl.Number.Uint64()
	}
	for _, c := range a.Contacts {
		st.Contacts = append(st.Contacts, store.Contact{AccountID: c.AccountID, Name: c.Name, State: store.ContactState(c.State)})
	}
	for k, v := range a.Settings {
		if keep == nil || slices.Contains(keep, k) {
			st.Settings[k] = v
		}
	}
	if a.PresenceGen != 0 && len(a.PresenceKey) == store.PresenceKeyLen {
		st.PresenceKey.Gen = a.PresenceGen
		copy(st.PresenceKey.Key[:], a.PresenceKey)
	}
	return st, nil
}

// ExportAccount writes the account (key, certificates, CRL, contacts,
// settings) of the data directory's store as an archive encrypted with
// archivePassphrase, with o.KDF as the argon2id cost.
func ExportAccount(st *store.Store, archivePassphrase []byte, o AccountOptions) ([]byte, error) {
	if len(archivePassphrase) == 0 {
		return nil, fmt.Errorf("export: %w: an archive needs a passphrase", ErrInvalidInput)
	}
	id, err := st.Identity()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer clear(id.DeviceKeySeed)
	defer clear(id.AccountKeySeed)
	if !id.IsAdmin() {
		return nil, fmt.Errorf("export: %w: this is a member device and does not hold the account key; export the archive from an admin device%s", ErrNotAdmin, adminHint(st))
	}
	certs, err := st.DeviceCerts()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	crl, _, err := st.CRL()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	contacts, err := st.Contacts()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	settings, err := st.Settings()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	var pk []byte
	var gen uint32
	if k, err := st.PresenceKey(); err == nil {
		pk, gen = k.Key[:], k.Gen
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("export: %w", err)
	}
	a := &pcrypto.Archive{
		PresenceKey:    pk,
		PresenceGen:    gen,
		AccountKeySeed: id.AccountKeySeed,
		AccountCert:    id.AccountCert,
		CRL:            crl,
		Settings:       settings,
		Created:        time.Now().UTC(),
	}
	for _, der := range certs {
		a.DeviceCerts = append(a.DeviceCerts, der)
	}
	for _, c := range contacts {
		a.Contacts = append(a.Contacts, pcrypto.ArchiveContact{AccountID: c.AccountID, Name: c.Name, State: string(c.State), Updated: c.Updated})
	}
	out, err := a.Encrypt(archivePassphrase, o.kdf())
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return out, nil
}

// Identity is the parsed identity a node runs as. An admin device holds the
// account key; a member device holds only its device key and certificate.
type Identity struct {
	AccountCert *pcrypto.AccountCert
	DeviceKey   *pcrypto.DeviceKey
	DeviceCert  *pcrypto.DeviceCert

	accountKey atomic.Pointer[pcrypto.AccountKey] // nil on a member; set once by a promotion
}

// AccountKey returns the account key, or nil on a member device.
func (id *Identity) AccountKey() *pcrypto.AccountKey { return id.accountKey.Load() }

// IsAdmin reports whether this device holds the account key.
func (id *Identity) IsAdmin() bool { return id.accountKey.Load() != nil }

// SetAccountKey makes the identity an admin's (after a promotion stored the
// key); ak must be the account's key.
func (id *Identity) SetAccountKey(ak *pcrypto.AccountKey) error {
	if ak.ID() != id.AccountCert.ID {
		return fmt.Errorf("%w: the key is not this account's", ErrInvalidInput)
	}
	id.accountKey.Store(ak)
	return nil
}

// Wipe zeroes the private keys.
func (id *Identity) Wipe() {
	if ak := id.accountKey.Load(); ak != nil {
		ak.Wipe()
	}
	id.DeviceKey.Wipe()
}

// LoadIdentity reads and checks the identity in a store: the keys must match
// their certificates and the device certificate must chain to the account.
func LoadIdentity(st *store.Store, now time.Time) (*Identity, error) {
	raw, err := st.Identity()
	if err != nil {
		return nil, err
	}
	id := &Identity{}
	var ak *pcrypto.AccountKey
	if raw.IsAdmin() {
		if ak, err = pcrypto.AccountKeyFromSeed(raw.AccountKeySeed); err != nil {
			return nil, fmt.Errorf("load identity: account key: %w", err)
		}
		clear(raw.AccountKeySeed)
	}
	if id.DeviceKey, err = pcrypto.DeviceKeyFromSeed(raw.DeviceKeySeed); err != nil {
		return nil, fmt.Errorf("load identity: device key: %w", err)
	}
	if id.AccountCert, err = pcrypto.ParseAccountCert(raw.AccountCert); err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if id.DeviceCert, err = pcrypto.ParseDeviceCert(raw.DeviceCert); err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if ak != nil {
		if err := id.SetAccountKey(ak); err != nil {
			return nil, fmt.Errorf("load identity: %w: account key does not match its certificate", ErrInvalidInput)
		}
	}
	if id.DeviceCert.Device != id.DeviceKey.ID() {
		return nil, fmt.Errorf("load identity: %w: device key does not match its certificate", ErrInvalidInput)
	}
	if err := pcrypto.VerifyDevice(id.AccountCert.ID, id.AccountCert, id.DeviceCert, nil, now); err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	return id, nil
}

// Repair completes a data directory that a crash left short of what
// init, restore or link write: the device's own certificate among the
// account's device certificates (missing in directories initialised by
// versions that stored it in a second transaction) and the public
// certificate files (written after the store). The node runs it at start.
func Repair(st *store.Store, dir string, id *Identity) error {
	certs, err := st.DeviceCerts()
	if err != nil {
		return err
	}
	own := id.DeviceCert.Device
	if _, ok := certs[own]; !ok {
		if err := st.PutDeviceCert(own, id.DeviceCert.Raw()); err != nil {
			return fmt.Errorf("repair: %w", err)
		}
	}
	for _, f := range []string{AccountCertFile, DeviceCertFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, os.ErrNotExist) {
			return WritePublicCerts(dir, id.AccountCert, id.DeviceCert)
		}
	}
	return nil
}

// Summary describes the identity held in a store. It reads only public
// data: no passphrase is needed.
func Summary(st *store.Store, dir string) (*apitype.Identity, error) {
	raw, err := st.PublicIdentity()
	if err != nil {
		return nil, err
	}
	ac, err := pcrypto.ParseAccountCert(raw.AccountCert)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	dc, err := pcrypto.ParseDeviceCert(raw.DeviceCert)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	certs, err := st.DeviceCerts()
	if err != nil {
		return nil, err
	}
	_, crlNum, err := st.CRL()
	if err != nil {
		return nil, err
	}
	// Devices counts the account's devices in use: revoked ones are
	// listed by parley devices, not counted here.
	crl, err := LoadCRL(st)
	if err != nil {
		return nil, err
	}
	active := 0
	for _, der := range certs {
		if c, err := pcrypto.ParseDeviceCert(der); err == nil && !crl.IsRevoked(c.Serial()) {
			active++
		}
	}
	sealed := raw.Sealed
	s := &apitype.Identity{
		AccountID:   ac.ID.String(),
		DeviceID:    dc.Device.String(),
		DeviceName:  dc.Name,
		KeysSealed:  sealed,
		AccountCert: certSummary(ac.Cert),
		DeviceCert:  certSummary(dc.Cert),
		Devices:     active,
		CRLNumber:   crlNum,
		Role:        RoleMember,
	}
	if raw.Admin {
		s.Role = RoleAdmin
	}
	if dir != "" {
		s.DataDir = dir
		s.AccountCert.File = filepath.Join(dir, AccountCertFile)
		s.DeviceCert.File = filepath.Join(dir, DeviceCertFile)
	}
	return s, nil
}

func certSummary(c *x509.Certificate) apitype.CertSummary {
	return apitype.CertSummary{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    fmt.Sprintf("%x", c.SerialNumber),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
	}
}

// OpenEmpty creates dir (0700) and opens a new store there, refusing a
// directory that already holds an identity.
func OpenEmpty(dir string, o AccountOptions) (*store.Store, error) {
	st, err := OpenStore(dir, o)
	if err != nil {
		return nil, err
	}
	has, err := st.HasIdentity()
	if err == nil && has {
		err = fmt.Errorf("%w: %s already holds an account; refusing to overwrite it (use another --data dir, or `parleyd identity --data %s` to see it)", ErrIdentityExists, dir, dir)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// addDevice makes a device key, has the account certify it, and stores the
// identity with the account's state (its own certificate added) in one
// transaction, then writes the public certificate files.
func addDevice(st *store.Store, dir string, ak *pcrypto.AccountKey, ac *pcrypto.AccountCert, name string, now time.Time, state store.AccountState) error {
	dk, err := pcrypto.NewDeviceKey(nil)
	if err != nil {
		return fmt.Errorf("device key: %w", err)
	}
	defer dk.Wipe()
	dc, err := pcrypto.IssueDeviceCert(ak, ac, dk.Public(), name, pcrypto.CertOptions{NotBefore: now.Add(-time.Hour)})
	if err != nil {
		return fmt.Errorf("device certificate: %w", err)
	}
	certs := maps.Clone(state.DeviceCerts)
	if certs == nil {
		certs = map[pcrypto.DeviceID][]byte{}
	}
	certs[dc.Device] = dc.Raw()
	state.DeviceCerts = certs
	err = st.CreateAccount(store.Identity{
		AccountKeySeed: ak.Seed(),
		AccountCert:    ac.Raw(),
		DeviceKeySeed:  dk.Seed(),
		DeviceCert:     dc.Raw(),
		DeviceName:     name,
		Created:        now.UTC(),
	}, state)
	if errors.Is(err, store.ErrIdentityExists) {
		return fmt.Errorf("%w: %s", ErrIdentityExists, dir)
	}
	if err != nil {
		return err
	}
	return WritePublicCerts(dir, ac, dc)
}

// WritePublicCerts writes the account and device certificates as PEM files
// in the data directory.
func WritePublicCerts(dir string, ac *pcrypto.AccountCert, dc *pcrypto.DeviceCert) error {
	if err := WritePublic(filepath.Join(dir, AccountCertFile), ac.PEM()); err != nil {
		return err
	}
	return WritePublic(filepath.Join(dir, DeviceCertFile), dc.PEM())
}

// WritePublic writes a public file (a certificate) atomically, mode 0644:
// a temp file, synced, renamed over path.
func WritePublic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadCRL returns the account's CRL from the store, or nil when it has
// none.
func LoadCRL(st *store.Store) (*pcrypto.CRL, error) {
	der, _, err := st.CRL()
	if err != nil || der == nil {
		return nil, err
	}
	return pcrypto.ParseCRL(der)
}
