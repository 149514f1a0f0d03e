package account

import (
	"errors"
	"fmt"
	"strings"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/store"
)

// Device roles as the API and the CLI name them.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// OwnRecord returns the newest admin-signed account record of the own
// account that the store holds, verified; nil when there is none. A record
// that has expired is still read (verified as of just before its expiry):
// it says which devices are admins until a newer one arrives.
func OwnRecord(st *store.Store, ac *pcrypto.AccountCert, now time.Time) (*records.Account, error) {
	raw, _, ok, err := st.OwnRecord()
	if err != nil || !ok {
		return nil, err
	}
	key := records.AccountKey(ac.ID)
	rec, err := records.ParseAccount(key, raw, now)
	if errors.Is(err, records.ErrExpired) {
		// Verify as of its last valid second instead.
		if a, perr := records.ParseAccount(key, raw, now.Add(-records.MaxAccountTTL)); perr == nil {
			rec, err = records.ParseAccount(key, raw, a.Expires.Add(-time.Second))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stored account record: %w", err)
	}
	return rec, nil
}

// Admins returns the admin devices of the account as the stored account
// record lists them.
func Admins(st *store.Store, ac *pcrypto.AccountCert, now time.Time) []*pcrypto.DeviceCert {
	rec, err := OwnRecord(st, ac, now)
	if err != nil || rec == nil {
		return nil
	}
	var out []*pcrypto.DeviceCert
	for _, dc := range rec.Devices {
		if rec.IsAdmin(dc.Device) {
			out = append(out, dc)
		}
	}
	return out
}

// adminHint says which devices can do what a member cannot, for errors.
func adminHint(st *store.Store) string {
	pub, err := st.PublicIdentity()
	if err != nil {
		return ""
	}
	ac, err := pcrypto.ParseAccountCert(pub.AccountCert)
	if err != nil {
		return ""
	}
	return AdminHint(Admins(st, ac, time.Now()))
}

// AdminHint formats the admin devices for an error message: ": admin
// devices: <name> (<short ID>), …" or a hint when none is known.
func AdminHint(admins []*pcrypto.DeviceCert) string {
	if len(admins) == 0 {
		return " (no admin device is known here yet; use the device the account was created on)"
	}
	names := make([]string, 0, len(admins))
	for _, dc := range admins {
		names = append(names, fmt.Sprintf("%s (%s)", dc.Name, dc.Device))
	}
	return "; admin devices: " + strings.Join(names, ", ")
}

// NotAdmin is the error a member device returns for an admin-only action.
func NotAdmin(st *store.Store, what string) error {
	return fmt.Errorf("%w: this is a member device and cannot %s%s", ErrNotAdmin, what, adminHint(st))
}
