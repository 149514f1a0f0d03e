package devices

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/node/presence"

	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/service"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// deviceState is the node's state for linking, the device list and sync
// between the devices of the account.
type deviceState struct {
	initOnce  sync.Once
	kick      chan struct{} // wakes the sync loop; buffered 1
	ready     chan struct{} // closed when the first sync round is over
	readyOnce sync.Once

	mu        sync.Mutex                // guards the following fields
	refused   map[pcrypto.DeviceID]bool // devices of our account refused as unknown
	recheckAt time.Time                 // when to look for refused devices in the account record

	// mergeMu serialises changes of the CRL and the device certificates.
	mergeMu sync.Mutex
}

func (d *deviceState) init() {
	d.initOnce.Do(func() {
		d.kick = make(chan struct{}, 1)
		d.ready = make(chan struct{})
	})
}

// kickSync wakes the sync loop.
func (d *deviceState) kickSync() {
	d.init()
	service.Kick(d.kick)
}

// markReady releases the publish loop (once).
func (d *deviceState) markReady() {
	d.init()
	d.readyOnce.Do(func() { close(d.ready) })
}

// pushTargets returns the accounts still to be sent our account record
// (the durable queue), dropping those that are no longer accepted
// contacts.
func (svc *Service) pushTargets() []pcrypto.AccountID {
	items, err := svc.Store.Queue().Pushes()
	if err != nil {
		svc.Log.Warn("cannot read the record push queue", "err", err)
		return nil
	}
	var out []pcrypto.AccountID
	for _, it := range items {
		if c, err := svc.Store.Contact(it.ID); err != nil || c.State != store.Accepted {
			_ = svc.Store.Queue().DonePush(it.ID)
			continue
		}
		out = append(out, it.ID)
	}
	return out
}

// maxTellAge is how long a revoked device is tried, every sync round, to be
// told of its revocation; one that stays away longer is dropped from the
// queue (it learns it from the account record when it comes back).
const maxTellAge = 30 * 24 * time.Hour

// tellTargets returns the revoked devices still to be told (the durable
// queue), dropping those queued more than maxTellAge ago.
func (svc *Service) tellTargets() []pcrypto.DeviceID {
	items, err := svc.Store.Queue().Tells()
	if err != nil {
		svc.Log.Warn("cannot read the revocation notice queue", "err", err)
		return nil
	}
	var out []pcrypto.DeviceID
	for _, it := range items {
		if svc.Now().Sub(it.Queued) > maxTellAge {
			_ = svc.Store.Queue().DoneTell(it.ID)
			continue
		}
		out = append(out, it.ID)
	}
	return out
}

func (d *deviceState) noteRefused(dev pcrypto.DeviceID, refused bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refused == nil {
		d.refused = map[pcrypto.DeviceID]bool{}
	}
	if refused {
		d.refused[dev] = true
	} else {
		delete(d.refused, dev)
	}
}

// scheduleRecheck asks the sync loop to check the account record at t.
func (d *deviceState) scheduleRecheck(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recheckAt.IsZero() || t.Before(d.recheckAt) {
		d.recheckAt = t
	}
}

// recheckDue reports (once) whether a scheduled check is due at now.
func (d *deviceState) recheckDue(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recheckAt.IsZero() || now.Before(d.recheckAt) {
		return false
	}
	d.recheckAt = time.Time{}
	return true
}

func (d *deviceState) wasRefused(dev pcrypto.DeviceID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused[dev]
}

// AccountChanged reacts to a change of the device set or CRL: republish the
// account record, tell the other devices and push the record to contacts.
func (svc *Service) AccountChanged() {
	svc.pres.PublishNow()
	if err := svc.Store.Queue().Add(store.Queued{Push: svc.acceptedContacts()}); err != nil {
		svc.Log.Warn("cannot queue the account record for the contacts", "err", err)
	}
	svc.devs.kickSync()
}

// acceptedContacts lists the accepted contacts (nil on a store error).
func (svc *Service) acceptedContacts() []pcrypto.AccountID {
	cs, err := svc.Store.Contacts()
	if err != nil {
		return nil
	}
	var accepted []pcrypto.AccountID
	for _, c := range cs {
		if c.State == store.Accepted {
			accepted = append(accepted, c.AccountID)
		}
	}
	return accepted
}

// ActiveDevices returns the account's device certificates that are not
// revoked by its CRL, ourselves included.
func (svc *Service) ActiveDevices() ([]*pcrypto.DeviceCert, error) {
	crl, err := account.LoadCRL(svc.Store)
	if err != nil {
		return nil, err
	}
	ders, err := svc.Store.DeviceCerts()
	if err != nil {
		return nil, err
	}
	var out []*pcrypto.DeviceCert
	for _, id := range sortedMapKeys(ders) {
		dc, err := pcrypto.ParseDeviceCert(ders[id])
		if err != nil || crl.IsRevoked(dc.Serial()) {
			continue
		}
		out = append(out, dc)
	}
	return out, nil
}

// sortedMapKeys returns the devices of m in the order of their text form.
func sortedMapKeys[V any](m map[pcrypto.DeviceID]V) []pcrypto.DeviceID {
	keys := make([]pcrypto.DeviceID, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pcrypto.DeviceID) int { return strings.Compare(a.String(), b.String()) })
	return keys
}

// trustedDevice returns the certificate of another device of the account
// that this device trusts: one it knows (linked here or learned by sync from
// a trusted device), valid, and not revoked.
func (svc *Service) trustedDevice(d pcrypto.DeviceID) (*pcrypto.DeviceCert, error) {
	ders, err := svc.Store.DeviceCerts()
	if err != nil {
		return nil, err
	}
	der, ok := ders[d]
	if !ok {
		return nil, fmt.Errorf("%w: device %s (link it from a device of the account first)", ErrUnknownDevice, d.Short())
	}
	dc, err := pcrypto.ParseDeviceCert(der)
	if err != nil {
		return nil, err
	}
	crl, err := account.LoadCRL(svc.Store)
	if err != nil {
		return nil, err
	}
	if err := pcrypto.VerifyDevice(svc.ID.AccountCert.ID, svc.ID.AccountCert, dc, crl, svc.Now()); err != nil {
		return nil, fmt.Errorf("device %s: %w", d.Short(), err)
	}
	return dc, nil
}

// Devices lists the account's devices as this device knows them, revoked
// ones included; this device first.
func (svc *Service) Devices() ([]apitype.Device, error) {
	ders, err := svc.Store.DeviceCerts()
	if err != nil {
		return nil, err
	}
	metas, err := svc.Store.DeviceMetas()
	if err != nil {
		return nil, err
	}
	crl, err := account.LoadCRL(svc.Store)
	if err != nil {
		return nil, err
	}
	admins := map[pcrypto.DeviceID]bool{}
	for _, dc := range account.Admins(svc.Store, svc.ID.AccountCert, svc.Now()) {
		admins[dc.Device] = true
	}
	out := make([]apitype.Device, 0, len(ders))
	for _, id := range sortedMapKeys(ders) {
		dc, err := pcrypto.ParseDeviceCert(ders[id])
		if err != nil {
			continue
		}
		d := svc.deviceInfo(dc, metas[id], crl)
		switch {
		case d.Revoked:
		case admins[id] || (d.Self && svc.ID.IsAdmin()):
			d.Role = account.RoleAdmin
		default:
			d.Role = account.RoleMember
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b apitype.Device) int {
		if a.Self != b.Self {
			if a.Self {
				return -1
			}
			return 1
		}
		return a.Linked.Compare(b.Linked)
	})
	return out, nil
}

// deviceInfo describes one device for the API.
func (svc *Service) deviceInfo(dc *pcrypto.DeviceCert, meta store.DeviceMeta, crl *pcrypto.CRL) apitype.Device {
	d := apitype.Device{
		DeviceID: dc.Device.String(), Name: dc.Name, Serial: fmt.Sprintf("%x", dc.Cert.SerialNumber),
		Linked: meta.Linked, LastSeen: meta.LastSeen, Self: dc.Device == svc.ID.DeviceCert.Device,
	}
	if d.Linked.IsZero() {
		// Parley back-dates certificates by an hour against clock skew.
		d.Linked = dc.Cert.NotBefore.Add(time.Hour).UTC()
	}
	if d.Self {
		d.LastSeen = svc.Now().UTC()
	}
	if crl != nil {
		for _, e := range crl.List.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(dc.Cert.SerialNumber) == 0 {
				d.Revoked, d.RevokedAt = true, e.RevocationTime.UTC()
			}
		}
	}
	return d
}

// findDevice resolves a device ID typed by a user: the full ID, or an
// unambiguous prefix of at least 6 characters of a known device's ID.
func (svc *Service) findDevice(s string) (*pcrypto.DeviceCert, error) {
	ders, err := svc.Store.DeviceCerts()
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	var match []pcrypto.DeviceID
	for id := range ders {
		if text := id.String(); text == s || (len(s) >= 6 && strings.HasPrefix(text, s)) {
			match = append(match, id)
		}
	}
	switch {
	case len(match) > 1:
		return nil, fmt.Errorf("%w: %q names %d devices; give more of the ID", service.ErrInvalidInput, s, len(match))
	case len(match) == 0:
		return nil, fmt.Errorf("%w: %q (see: parley devices)", ErrUnknownDevice, s)
	}
	return pcrypto.ParseDeviceCert(ders[match[0]])
}

// RevokeDevice revokes another device of the account: it signs a new CRL
// listing the device's certificate, republishes the account record without
// it, tells the other devices (and the revoked one) and pushes the record to
// the contacts, so that the device is no longer rung and its calls are
// refused by anyone who has the CRL.
func (svc *Service) RevokeDevice(ctx context.Context, device string) (*apitype.Revocation, error) {
	if err := svc.CheckNotRevoked(); err != nil {
		return nil, err
	}
	ak := svc.ID.AccountKey()
	if ak == nil {
		return nil, account.NotAdmin(svc.Store, "revoke a device")
	}
	dc, err := svc.findDevice(device)
	if err != nil {
		return nil, err
	}
	if dc.Device == svc.ID.DeviceCert.Device {
		return nil, fmt.Errorf("%w: a device cannot revoke itself; revoke it from another device of the account", service.ErrInvalidInput)
	}
	svc.devs.mergeMu.Lock()
	crl, err := account.LoadCRL(svc.Store)
	if err == nil && crl.IsRevoked(dc.Serial()) {
		err = fmt.Errorf("%w: device %s is already revoked (CRL #%v)", service.ErrConflict, dc.Device.Short(), crl.Number)
	}
	var next *pcrypto.CRL
	if err == nil {
		next, err = pcrypto.CreateCRL(ak, svc.ID.AccountCert, crl, []*big.Int{dc.Serial()}, svc.Now())
	}
	if err == nil {
		// The CRL, the record pushes to the contacts and the notice to
		// the revoked device are stored together: a crash right after
		// the revocation still delivers them at the next start.
		err = svc.Store.PutCRLAndEnqueue(next.Raw(), next.Number.Uint64(), store.Queued{Push: svc.acceptedContacts(), Tell: []pcrypto.DeviceID{dc.Device}})
	}
	svc.devs.mergeMu.Unlock()
	if err != nil {
		return nil, err
	}
	svc.Log.Info("device revoked", "device", dc.Device, "crl", next.Number)
	svc.Events.Publish(apitype.Event{Type: apitype.EventDeviceRevoked, Time: svc.Now(), Device: dc.Device.String()})
	// The revoked device holds the account's presence key: records from
	// now on are sealed under a new one, which the contacts get in an
	// update and the other devices by sync (a revoked device is refused).
	if err := svc.contacts.RotatePresenceKey(); err != nil {
		svc.Log.Error("rotating the presence key failed; the revoked device can still read this account's presence", "err", err)
	}
	// The sync loop tells the revoked device too (an honest one stops
	// acting for the account) and pushes the record to the contacts.
	svc.AccountChanged()
	metas, _ := svc.Store.DeviceMetas()
	return &apitype.Revocation{Device: svc.deviceInfo(dc, metas[dc.Device], next), CRLNumber: next.Number.Uint64()}, nil
}

// mergeCRL merges a CRL of the account received from another device or
// found in the DHT. Revocations only accumulate: when the CRL lists a
// serial ours does not, ours is replaced (if it is a superset with a higher
// number) or, on an admin device, a new CRL is signed with the union and a
// number above both. A member device cannot sign: it keeps the newest
// admin-signed CRL that is a superset of what it has and leaves the union
// to an admin (which sees both lists by sync or in the DHT). It reports
// whether the stored CRL changed.
func (svc *Service) mergeCRL(der []byte) (bool, error) {
	remote, err := pcrypto.ParseCRL(der)
	if err != nil {
		return false, err
	}
	if err := remote.Verify(svc.ID.AccountCert); err != nil {
		return false, err
	}
	svc.devs.mergeMu.Lock()
	defer svc.devs.mergeMu.Unlock()
	local, err := account.LoadCRL(svc.Store)
	if err != nil {
		return false, err
	}
	if local == nil {
		return true, svc.Store.PutCRL(remote.Raw(), remote.Number.Uint64())
	}
	missingHere := crlMissing(remote, local) // revoked there, not here
	missingThere := crlMissing(local, remote)
	higher := remote.Number.Cmp(local.Number) > 0
	switch {
	case len(missingHere) == 0 && !higher:
		return false, nil
	case len(missingThere) == 0 && higher:
		return true, svc.Store.PutCRL(remote.Raw(), remote.Number.Uint64())
	}
	ak := svc.ID.AccountKey()
	if ak == nil {
		svc.Log.Warn("two revocation lists of the account each revoke a device the other does not; an admin device will sign their union",
			"local", local.Number, "remote", remote.Number)
		return false, nil
	}
	prev, add := local, missingHere
	if higher {
		prev, add = remote, missingThere
	}
	next, err := pcrypto.CreateCRL(ak, svc.ID.AccountCert, prev, add, svc.Now())
	if err != nil {
		return false, err
	}
	return true, svc.Store.PutCRL(next.Raw(), next.Number.Uint64())
}

// crlMissing returns the serials a lists and b does not.
func crlMissing(a, b *pcrypto.CRL) []*big.Int {
	var out []*big.Int
	for _, e := range a.List.RevokedCertificateEntries {
		if !b.IsRevoked(e.SerialNumber) {
			out = append(out, e.SerialNumber)
		}
	}
	return out
}

// mergeDevices adds device certificates learned from a trusted device of
// the account: valid ones of our account, not revoked. It reports whether
// one was added.
func (svc *Service) mergeDevices(devs []syncDevice) bool {
	svc.devs.mergeMu.Lock()
	defer svc.devs.mergeMu.Unlock()
	crl, err := account.LoadCRL(svc.Store)
	if err != nil {
		return false
	}
	have, err := svc.Store.DeviceCerts()
	if err != nil {
		return false
	}
	added := false
	for _, d := range devs {
		dc, err := pcrypto.ParseDeviceCert(d.Cert)
		if err != nil {
			continue
		}
		if _, ok := have[dc.Device]; ok {
			continue
		}
		if pcrypto.VerifyDevice(svc.ID.AccountCert.ID, svc.ID.AccountCert, dc, crl, svc.Now()) != nil {
			continue
		}
		if svc.Store.PutDeviceCert(dc.Device, dc.Raw()) != nil {
			continue
		}
		_ = svc.Store.NoteDeviceLinked(dc.Device, d.Linked)
		svc.devs.noteRefused(dc.Device, false)
		svc.Log.Info("learned a new device of the account", "device", dc.Device, "name", dc.Name)
		svc.Events.Publish(apitype.Event{Type: apitype.EventDeviceLinked, Time: svc.Now(), Device: dc.Device.String(), Message: dc.Name})
		added = true
	}
	return added
}

// checkOwnRecord compares the account record in the DHT with what this
// device would publish: it adopts the record's revocations and republishes
// when the record misses a revocation or one of our trusted devices, or
// lists a device we refused (one that holds the account key but was never
// approved by a trusted device, such as a revoked device that re-linked
// itself).
func (svc *Service) checkOwnRecord(ctx context.Context) {
	key := records.AccountKey(svc.ID.AccountCert.ID)
	val, err := svc.pres.GetRecord(ctx, key)
	if err != nil {
		if errors.Is(err, presence.ErrNotFound) {
			svc.pres.PublishNow()
		}
		return
	}
	rec, err := records.ParseAccount(key, val, svc.Now())
	if err != nil {
		return
	}
	if err := svc.pres.UpdateAccount(svc.ID.AccountCert.ID, rec, svc.Now()); err != nil {
		svc.Log.Debug("our account record in the DHT not taken", "err", err)
	}
	if rec.CRL != nil {
		if changed, err := svc.mergeCRL(rec.CRL.Raw()); err != nil {
			svc.Log.Warn("CRL in our account record refused", "err", err)
		} else if changed {
			svc.Log.Info("adopted revocations from the account record")
			svc.devs.kickSync()
		}
	}
	crl, _ := account.LoadCRL(svc.Store)
	active, err := svc.ActiveDevices()
	if err != nil {
		return
	}
	stale := crl != nil && (rec.CRL == nil || len(crlMissing(crl, rec.CRL)) > 0)
	listed := map[pcrypto.DeviceID]bool{}
	for _, d := range rec.Devices {
		listed[d.Device] = true
		if svc.devs.wasRefused(d.Device) || crl.IsRevoked(d.Serial()) {
			stale = true
		}
	}
	for _, d := range active {
		if !listed[d.Device] {
			stale = true
		}
	}
	if stale {
		svc.Log.Info("the account record in the DHT is out of date; republishing")
		svc.pres.PublishNow()
	}
}

// ---- pushing the account record to contacts ----

// pushRecords sends the current account record to the contacts still
// waiting for it, each to its online devices; those that acknowledged are
// done, the others are retried on the next round.
func (svc *Service) pushRecords(ctx context.Context) {
	targets := svc.pushTargets()
	if len(targets) == 0 {
		return
	}
	rec, err := svc.pres.AccountRecord(svc.Now())
	if err != nil {
		svc.Log.Warn("cannot build the account record to push", "err", err)
		return
	}
	var wg sync.WaitGroup
	for _, to := range targets {
		wg.Go(func() {
			if err := svc.contacts.PushRecord(ctx, to, rec); err != nil {
				svc.Log.Debug("account record not pushed yet", "to", to, "err", err)
				return
			}
			if err := svc.Store.Queue().DonePush(to); err != nil {
				svc.Log.Warn("record push done but not dequeued", "to", to, "err", err)
			}
		})
	}
	wg.Wait()
}

// CheckNotRevoked refuses to act for the account once this device is on
// its CRL.
func (svc *Service) CheckNotRevoked() error {
	crl, err := account.LoadCRL(svc.Store)
	if err != nil {
		return err
	}
	if crl.IsRevoked(svc.ID.DeviceCert.Serial()) {
		return fmt.Errorf("%w (CRL #%v); use another device of the account", ErrDeviceRevoked, crl.Number)
	}
	return nil
}
