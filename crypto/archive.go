package crypto

import (
	"encoding/json"
	"fmt"
	"time"
)

// ArchiveContact is one contact in an account archive.
// The account ID is in its text form in the archive's JSON.
type ArchiveContact struct {
	AccountID AccountID `json:"account_id"`
	Name      string    `json:"name,omitempty"`
	State     string    `json:"state"`
	Updated   time.Time `json:"updated"`
}

// Archive is everything needed to restore an account on a new device: the
// account key, its certificates and CRL, contacts and settings. It is
// encrypted at rest with Encrypt and read back with DecryptArchive.
type Archive struct {
	// AccountKeySeed is the 32-byte Ed25519 seed of the account key. Secret.
	// It is empty only in the archive a link session sends to a new member
	// device, which gets the account's state but not its key; an archive
	// for restoring (Export) always holds it.
	AccountKeySeed []byte
	// AccountCert is the DER account certificate; it must match the key.
	AccountCert []byte
	// DeviceCerts are DER device certificates issued by the account.
	DeviceCerts [][]byte
	// CRL is the newest DER CRL of the account, or nil.
	CRL      []byte
	Contacts []ArchiveContact
	Settings map[string]string
	Created  time.Time
	// PresenceKey is the account's 32-byte presence key and PresenceGen
	// its generation (docs/protocol.md, "Presence for contacts only"),
	// both empty in an archive made before presence keys. Secret.
	PresenceKey []byte
	PresenceGen uint32
}

// archiveVersion is the version of the JSON plaintext inside an archive.
const archiveVersion = 1

// archiveJSON is the plaintext inside an archive. []byte fields are
// base64 (encoding/json's default).
type archiveJSON struct {
	Version        int               `json:"version"`
	AccountKeySeed []byte            `json:"account_key_seed,omitempty"`
	AccountCert    []byte            `json:"account_cert"`
	DeviceCerts    [][]byte          `json:"device_certs,omitempty"`
	CRL            []byte            `json:"crl,omitempty"`
	Contacts       []ArchiveContact  `json:"contacts,omitempty"`
	Settings       map[string]string `json:"settings,omitempty"`
	Created        time.Time         `json:"created"`
	PresenceKey    []byte            `json:"presence_key,omitempty"`
	PresenceGen    uint32            `json:"presence_gen,omitempty"`
}

// Encrypt checks the archive (see DecryptArchive) and seals it under
// passphrase. The outer format is the sealed-file format with magic
// "PRLYARCH"; the plaintext is JSON with "version": 1.
func (a *Archive) Encrypt(passphrase []byte, p KDFParams) ([]byte, error) {
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("crypto.Archive.Encrypt: %w", err)
	}
	pt, err := json.Marshal(archiveJSON{
		Version:        archiveVersion,
		AccountKeySeed: a.AccountKeySeed,
		AccountCert:    a.AccountCert,
		DeviceCerts:    a.DeviceCerts,
		CRL:            a.CRL,
		Contacts:       a.Contacts,
		Settings:       a.Settings,
		Created:        a.Created,
		PresenceKey:    a.PresenceKey,
		PresenceGen:    a.PresenceGen,
	})
	if err != nil {
		return nil, fmt.Errorf("crypto.Archive.Encrypt: %w", err)
	}
	defer clear(pt)
	out, err := sealRandom(magicArchive, passphrase, pt, p)
	if err != nil {
		return nil, fmt.Errorf("crypto.Archive.Encrypt: %w", err)
	}
	return out, nil
}

// DecryptArchive opens an archive made by Encrypt. Besides the errors of
// Open (ErrWrongPassphrase, ErrCorrupt, ErrUnsupportedVersion) it returns
// ErrUnsupportedVersion for an unknown plaintext version and ErrCorrupt
// when the contents are inconsistent: the account certificate does not
// parse or does not match the key seed, a device certificate or the CRL is
// not the account's, or a contact ID does not parse.
func DecryptArchive(data, passphrase []byte) (*Archive, error) {
	pt, err := open(magicArchive, passphrase, data)
	if err != nil {
		return nil, fmt.Errorf("crypto.DecryptArchive: %w", err)
	}
	defer clear(pt)
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(pt, &v); err != nil {
		return nil, fmt.Errorf("crypto.DecryptArchive: %w: %w", ErrCorrupt, err)
	}
	if v.Version != archiveVersion {
		return nil, fmt.Errorf("crypto.DecryptArchive: %w: archive version %d", ErrUnsupportedVersion, v.Version)
	}
	var j archiveJSON
	if err := json.Unmarshal(pt, &j); err != nil {
		return nil, fmt.Errorf("crypto.DecryptArchive: %w: %w", ErrCorrupt, err)
	}
	a := &Archive{
		AccountKeySeed: j.AccountKeySeed,
		AccountCert:    j.AccountCert,
		DeviceCerts:    j.DeviceCerts,
		CRL:            j.CRL,
		Contacts:       j.Contacts,
		Settings:       j.Settings,
		Created:        j.Created,
		PresenceKey:    j.PresenceKey,
		PresenceGen:    j.PresenceGen,
	}
	if err := a.validate(); err != nil {
		clear(a.AccountKeySeed)
		return nil, fmt.Errorf("crypto.DecryptArchive: %w: %w", ErrCorrupt, err)
	}
	return a, nil
}

// HasAccountKey reports whether the archive holds the account key (an
// admin's archive).
func (a *Archive) HasAccountKey() bool { return len(a.AccountKeySeed) > 0 }

// validate checks that the archive's parts belong together.
func (a *Archive) validate() error {
	ac, err := ParseAccountCert(a.AccountCert)
	if err != nil {
		return fmt.Errorf("account certificate: %w", err)
	}
	if a.HasAccountKey() {
		k, err := AccountKeyFromSeed(a.AccountKeySeed)
		if err != nil {
			return fmt.Errorf("account key: %w", err)
		}
		defer k.Wipe()
		if ac.ID != k.ID() {
			return fmt.Errorf("account certificate: %w: it is for %s, the key is %s", ErrWrongAccount, ac.ID.Short(), k.ID().Short())
		}
	}
	for i, der := range a.DeviceCerts {
		dc, err := ParseDeviceCert(der)
		if err != nil {
			return fmt.Errorf("device certificate %d: %w", i, err)
		}
		if err := dc.Cert.CheckSignatureFrom(ac.Cert); err != nil || dc.Account != ac.ID {
			return fmt.Errorf("device certificate %d: %w: not issued by this account", i, ErrWrongAccount)
		}
	}
	if len(a.CRL) != 0 {
		crl, err := ParseCRL(a.CRL)
		if err != nil {
			return fmt.Errorf("revocation list: %w", err)
		}
		if err := crl.Verify(ac); err != nil {
			return fmt.Errorf("revocation list: %w", err)
		}
	}
	if (len(a.PresenceKey) != 0 || a.PresenceGen != 0) && (len(a.PresenceKey) != 32 || a.PresenceGen == 0) {
		return fmt.Errorf("%w: presence key of %d bytes, generation %d: want 32 bytes and a generation above 0", ErrInvalidKey, len(a.PresenceKey), a.PresenceGen)
	}
	for i, c := range a.Contacts {
		if c.AccountID.IsZero() {
			return fmt.Errorf("contact %d: %w: no account ID", i, ErrInvalidID)
		}
	}
	return nil
}
