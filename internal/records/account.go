package records

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
)

// maxDeviceIDLen bounds one device ID (the bytes of a libp2p peer ID) in
// the admin list; an Ed25519 identity peer ID is 38 bytes.
const maxDeviceIDLen = 64

// Account is a parsed and validated account record.
type Account struct {
	// Seq is the record's sequence number; a higher one supersedes.
	Seq uint64
	// Expires is when the record stops being valid (second precision).
	Expires time.Time
	// Cert is the account certificate; its key signed the record.
	Cert *crypto.AccountCert
	// Devices are the account's current, verified device certificates.
	Devices []*crypto.DeviceCert
	// CRL is the account's newest revocation list, or nil.
	CRL *crypto.CRL
	// Admins are the devices, among Devices, that hold the account key
	// (admin devices), in ascending order of their ID bytes. The list is
	// signed by the account key like the rest of the record, so it is
	// authoritative; the others are member devices.
	Admins []crypto.DeviceID
	// Raw is the signed record as parsed (the envelope), for storing and
	// republishing the same bytes.
	Raw []byte
}

// IsAdmin reports whether the record lists d as an admin device.
func (a *Account) IsAdmin(d crypto.DeviceID) bool {
	return slices.Contains(a.Admins, d)
}

// NewAccount makes a signed account record listing devices, valid from now
// for ttl (at most MaxTTL). The record is checked with ParseAccount before
// it is returned, so an invalid device (revoked by crl, expired, of another
// account) or an oversize record is an error here rather than at the DHT.
func NewAccount(ak *crypto.AccountKey, ac *crypto.AccountCert, devices []*crypto.DeviceCert, crl *crypto.CRL, seq uint64, ttl time.Duration, now time.Time) ([]byte, error) {
	return NewAccountRecord(ak, ac, devices, nil, crl, seq, ttl, now)
}

// NewAccountRecord is NewAccount with the list of admin devices, each of
// which must be among devices (they are sorted and deduplicated here).
func NewAccountRecord(ak *crypto.AccountKey, ac *crypto.AccountCert, devices []*crypto.DeviceCert, admins []crypto.DeviceID, crl *crypto.CRL, seq uint64, ttl time.Duration, now time.Time) ([]byte, error) {
	if err := checkTTL(ttl, MaxAccountTTL); err != nil {
		return nil, fmt.Errorf("records.NewAccount: %w", err)
	}
	if ak == nil || ac == nil {
		return nil, fmt.Errorf("records.NewAccount: %w: nil account key or certificate", ErrMalformed)
	}
	if len(devices) > MaxDevices {
		return nil, fmt.Errorf("records.NewAccount: %w: %d > %d", ErrTooManyDevices, len(devices), MaxDevices)
	}
	h := header{Seq: seq, Expires: expiry(now, ttl)}
	payload := encodeAccount(h, ac, devices, crl, sortAdmins(admins))
	seed := ak.Seed()
	defer clear(seed)
	data, err := signEnvelope(ed25519.NewKeyFromSeed(seed), AccountContext, payload)
	if err != nil {
		return nil, fmt.Errorf("records.NewAccount: %w", err)
	}
	if _, err := ParseAccount(AccountKey(ak.ID()), data, now); err != nil {
		return nil, fmt.Errorf("records.NewAccount: %w", err)
	}
	return data, nil
}

// encodeAccount encodes an account record payload.
func encodeAccount(h header, ac *crypto.AccountCert, devices []*crypto.DeviceCert, crl *crypto.CRL, admins []crypto.DeviceID) []byte {
	e := wire.NewEncoder(nil)
	encodeHeader(e, accountVersion, h)
	e.Bytes(ac.Raw())
	e.Uvarint(uint64(len(devices)))
	for _, dc := range devices {
		e.Bytes(dc.Raw())
	}
	if crl != nil {
		e.Bytes(crl.Raw())
	} else {
		e.Bytes(nil)
	}
	e.Uvarint(uint64(len(admins)))
	for _, d := range admins {
		e.Bytes([]byte(d))
	}
	return e.Data()
}

// sortAdmins returns admins sorted by their bytes without duplicates: the
// one order a record may list them in.
func sortAdmins(admins []crypto.DeviceID) []crypto.DeviceID {
	out := slices.Clone(admins)
	slices.SortFunc(out, func(a, b crypto.DeviceID) int { return strings.Compare(string(a), string(b)) })
	return slices.Compact(out)
}

// ParseAccount parses data as the account record stored under key and
// validates it fully at time now: size, envelope and signature, that the
// signer is the account the key names and the key of the account
// certificate, expiry within (now, now+MaxTTL+ClockSkew], at most
// MaxDevices devices, each with a valid chain to the account and not revoked
// by the record's CRL, and a CRL (if any) issued by the account.
func ParseAccount(key string, data []byte, now time.Time) (*Account, error) {
	a, err := parseAccount(key, data, now)
	if err != nil {
		return nil, fmt.Errorf("records.ParseAccount: %w", err)
	}
	return a, nil
}

func parseAccount(key string, data []byte, now time.Time) (*Account, error) {
	id, err := parseAccountKey(key)
	if err != nil {
		return nil, err
	}
	env, err := openEnvelope(data, AccountContext, MaxAccountRecordSize)
	if err != nil {
		return nil, err
	}
	if crypto.AccountIDFromPublicKey(env.Signer) != id {
		return nil, fmt.Errorf("%w: signed by account %s, key names %s", ErrWrongSigner,
			crypto.AccountIDFromPublicKey(env.Signer).Short(), id.Short())
	}
	a, err := decodeAccount(env.Payload)
	if err != nil {
		return nil, err
	}
	if err := canonical(env.Payload, encodeAccount(header{a.Seq, a.Expires}, a.Cert, a.Devices, a.CRL, a.Admins)); err != nil {
		return nil, err
	}
	if pub, ok := a.Cert.Cert.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(env.Signer) || a.Cert.ID != id {
		return nil, fmt.Errorf("%w: certificate of account %s", ErrCertKeyMismatch, a.Cert.ID.Short())
	}
	if err := checkHeader(header{a.Seq, a.Expires}, now, MaxAccountTTL); err != nil {
		return nil, err
	}
	if err := verifyDevices(id, a, now); err != nil {
		return nil, err
	}
	a.Raw = data
	return a, nil
}

// decodeAccount decodes an account payload and parses its certificates.
func decodeAccount(payload []byte) (*Account, error) {
	d := wire.NewDecoder(payload)
	h := decodeHeader(d, accountVersion)
	acDER := d.Bytes(MaxCertSize)
	n := decodeCount(d)
	if n > MaxDevices {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyDevices, n, MaxDevices)
	}
	devDER := make([][]byte, 0, n)
	for range n {
		devDER = append(devDER, d.Bytes(MaxCertSize))
	}
	crlDER := d.Bytes(MaxCRLSize)
	na := decodeCount(d)
	if na > MaxDevices {
		return nil, fmt.Errorf("%w: %d admins > %d", ErrTooManyDevices, na, MaxDevices)
	}
	adminRaw := make([][]byte, 0, na)
	for range na {
		adminRaw = append(adminRaw, d.Bytes(maxDeviceIDLen))
	}
	if err := finish(d); err != nil {
		return nil, err
	}
	a := &Account{Seq: h.Seq, Expires: h.Expires}
	var err error
	if a.Cert, err = crypto.ParseAccountCert(acDER); err != nil {
		return nil, fmt.Errorf("%w: account certificate: %w", ErrMalformed, err)
	}
	seen := make(map[crypto.DeviceID]bool, n)
	for i, der := range devDER {
		dc, err := crypto.ParseDeviceCert(der)
		if err != nil {
			return nil, fmt.Errorf("%w: device certificate %d: %w", ErrMalformed, i, err)
		}
		if seen[dc.Device] {
			return nil, fmt.Errorf("%w: device %s listed twice", ErrMalformed, dc.Device.Short())
		}
		seen[dc.Device] = true
		a.Devices = append(a.Devices, dc)
	}
	if len(crlDER) > 0 {
		if a.CRL, err = crypto.ParseCRL(crlDER); err != nil {
			return nil, fmt.Errorf("%w: CRL: %w", ErrMalformed, err)
		}
	}
	for i, raw := range adminRaw {
		dev := crypto.DeviceID(raw)
		if !seen[dev] {
			return nil, fmt.Errorf("%w: admin %d is not a device of the record", ErrMalformed, i)
		}
		if i > 0 && string(raw) <= string(adminRaw[i-1]) {
			return nil, fmt.Errorf("%w: admins not in ascending order", ErrMalformed)
		}
		a.Admins = append(a.Admins, dev)
	}
	return a, nil
}

// verifyDevices checks the CRL and every device's chain to the account.
func verifyDevices(id crypto.AccountID, a *Account, now time.Time) error {
	if a.CRL != nil {
		if err := a.CRL.Verify(a.Cert); err != nil {
			return fmt.Errorf("%w: %w", ErrBadCRL, err)
		}
	}
	for _, dc := range a.Devices {
		err := crypto.VerifyDevice(id, a.Cert, dc, a.CRL, now)
		switch {
		case err == nil:
		case errors.Is(err, crypto.ErrRevoked):
			return fmt.Errorf("%w: device %s: %w", ErrDeviceRevoked, dc.Device.Short(), err)
		default:
			return fmt.Errorf("%w: device %s: %w", ErrBadDevice, dc.Device.Short(), err)
		}
	}
	return nil
}
