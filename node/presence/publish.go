package presence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/node/account"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

const (
	// publishTimeout bounds one round of putting both records.
	publishTimeout = 15 * time.Second
	// minPublishGap debounces republishing on bursts of address changes.
	minPublishGap = 2 * time.Second
	// publishRetry is the wait after a failed publish.
	publishRetry = 3 * time.Second
	// noAddrsRetry is the wait when the device has no address to publish
	// (behind NAT, no relay reservation yet); an address change wakes
	// the loop before.
	noAddrsRetry = 30 * time.Second
)

// publishLoop publishes the account record and this device's presence
// record when the DHT has peers, again at a third of their lifetime, and
// whenever addresses, reachability or bootstrap connections change. A kick
// that finds the addresses unchanged waits out minPublishGap since the last
// publish (bursts of events); one that finds them changed publishes at
// once, so a relay reservation or a new address is callable without delay.
func (svc *Service) publishLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	var last time.Time
	var lastAddrs string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-svc.publishNow:
			if gap := time.Since(last); gap < minPublishGap && addrsKey(svc.Addrs()) == lastAddrs {
				t.Reset(minPublishGap - gap)
				continue
			}
		}
		next, addrs, ok := svc.publishOnce(ctx)
		if ok {
			last, lastAddrs = time.Now(), addrsKey(addrs)
		}
		t.Reset(next)
	}
}

// addrsKey is a comparable form of an address list.
func addrsKey(addrs []ma.Multiaddr) string {
	var b strings.Builder
	for _, a := range addrs {
		b.Write(a.Bytes())
		b.WriteByte(0)
	}
	return b.String()
}

// Addrs are the addresses this device publishes: the host's own and the
// circuit addresses of the relay reservations it holds (Options.RelayAddrs),
// without duplicates, private ones withheld unless the whole network is
// private (Options.PrivateAddrs), at most records.MaxAddrs.
func (svc *Service) Addrs() []ma.Multiaddr {
	var relay []ma.Multiaddr
	if svc.o.RelayAddrs != nil {
		relay = publishable(svc.o.RelayAddrs(), svc.private)
	}
	relay = relay[:min(len(relay), records.MaxAddrs/2)] // room for direct ones
	var addrs []ma.Multiaddr
	for _, a := range publishable(svc.Host.Addrs(), svc.private) {
		if len(addrs)+len(relay) == records.MaxAddrs {
			break
		}
		if !slices.ContainsFunc(relay, a.Equal) {
			addrs = append(addrs, a)
		}
	}
	return append(addrs, relay...)
}

// publishOnce puts both records (in parallel) and returns when to publish
// next, the addresses it published, and whether it published. With no
// address to publish (behind NAT, no relay reservation yet) it puts the
// account record alone: a bootstrap gives TURN credentials only to devices
// whose account record it holds.
func (svc *Service) publishOnce(ctx context.Context) (time.Duration, []ma.Multiaddr, bool) {
	if svc.DHT.RoutingTable().Size() == 0 {
		return 100 * time.Millisecond, nil, false // not joined yet; a bootstrap connection also wakes us
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	now := svc.Now()
	acct, err := svc.AccountRecord(now)
	if err != nil {
		svc.Log.Error("cannot build account record", "err", err)
		return publishRetry, nil, false
	}
	addrs := svc.Addrs()
	if len(addrs) == 0 {
		if err := svc.DHT.PutValue(ctx, records.AccountKey(svc.ID.AccountCert.ID), acct); err != nil {
			svc.Log.Warn("publishing account record failed", "err", err)
			return publishRetry, nil, false
		}
		svc.Log.Debug("no address to publish yet (private ones are withheld)")
		return noAddrsRetry, nil, false
	}
	// Version 2: the relay addresses in clear (all a stranger needs to
	// send a contact request), the others sealed under the account's
	// presence key.
	relays, others := splitAddrs(addrs)
	pres, err := records.NewSealedPresence(svc.ID.DeviceKey, svc.ID.AccountCert.ID, relays, others, sealKey(svc.PresenceKey()), svc.nextSeq(now), svc.o.PresenceTTL, now)
	if err != nil {
		svc.Log.Error("cannot build presence record", "err", err)
		return publishRetry, nil, false
	}
	// The two puts are independent DHT walks: in parallel, publishing
	// takes one walk's time instead of two.
	var acctErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		acctErr = svc.DHT.PutValue(ctx, records.AccountKey(svc.ID.AccountCert.ID), acct)
	}()
	presErr := svc.DHT.PutValue(ctx, records.PresenceKey(svc.ID.DeviceCert.Device), pres)
	<-done
	if acctErr != nil {
		svc.Log.Warn("publishing account record failed", "err", acctErr)
		return publishRetry, nil, false
	}
	if presErr != nil {
		svc.Log.Warn("publishing presence failed", "err", presErr)
		return publishRetry, nil, false
	}
	svc.relayPublished.Store(len(relayAddrs(addrs)) > 0)
	svc.mu.Lock()
	svc.published = now
	svc.mu.Unlock()
	svc.Log.Debug("published records", "addrs", len(addrs))
	svc.Events.Publish(apitype.Event{Type: apitype.EventPresencePublished, Time: now, Device: svc.Host.ID().String()})
	return min(svc.o.PresenceTTL, svc.o.AccountTTL) / 3, addrs, true
}

// nextSeq returns a sequence number larger than any this device used before
// and than the account's pinned one (so a clock set back across a restart
// does not publish records older than those already out): milliseconds
// since the epoch, bumped when the clock did not move.
func (svc *Service) nextSeq(now time.Time) uint64 {
	var pinned uint64
	if pin, ok, err := svc.Store.Pins().Get(svc.ID.AccountCert.ID); err == nil && ok {
		pinned = pin.Seq
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	svc.seq = max(svc.seq+1, pinned+1, uint64(max(now.UnixMilli(), 0)))
	return svc.seq
}

// AccountRecord returns the account record to publish and to push to
// contacts. An admin device returns the stored record while it still lists
// what the store holds (devices, CRL, admins) and has more than a third of
// its validity left, and otherwise signs a new one (stored and pinned). A
// member device cannot sign: it returns the newest admin-signed record it
// holds, which an admin refreshes (ErrNoAccountRecord when it has none
// that is still valid).
func (svc *Service) AccountRecord(now time.Time) ([]byte, error) {
	return svc.SignAccountRecord(now, nil)
}

// ErrNoAccountRecord is returned on a member device that holds no valid
// admin-signed account record to publish.
var ErrNoAccountRecord = errors.New("no valid account record signed by an admin device")

// SignAccountRecord is AccountRecord that also lists promote as admin
// devices (an admin promoting them), which forces a new record when the
// stored one does not list them.
func (svc *Service) SignAccountRecord(now time.Time, promote []pcrypto.DeviceID) ([]byte, error) {
	svc.signMu.Lock()
	defer svc.signMu.Unlock()
	stored, err := account.OwnRecord(svc.Store, svc.ID.AccountCert, now)
	if err != nil {
		svc.Log.Warn("stored account record unusable", "err", err)
		stored = nil
	}
	ak := svc.ID.AccountKey()
	if ak == nil {
		if stored == nil || !now.Before(stored.Expires) {
			return nil, fmt.Errorf("%w; an admin device must come online to sign one%s", ErrNoAccountRecord, account.AdminHint(account.Admins(svc.Store, svc.ID.AccountCert, now)))
		}
		return stored.Raw, nil
	}
	crl, err := account.LoadCRL(svc.Store)
	if err != nil {
		return nil, err
	}
	ders, err := svc.Store.DeviceCerts()
	if err != nil {
		return nil, err
	}
	var devices []*pcrypto.DeviceCert
	for id, der := range ders {
		dc, err := pcrypto.ParseDeviceCert(der)
		if err != nil {
			return nil, fmt.Errorf("device certificate %s: %w", id, err)
		}
		if crl != nil && crl.IsRevoked(dc.Serial()) {
			continue
		}
		if pcrypto.VerifyDevice(svc.ID.AccountCert.ID, svc.ID.AccountCert, dc, crl, now) != nil {
			continue // expired; not worth advertising
		}
		devices = append(devices, dc)
	}
	if len(devices) > records.MaxDevices {
		return nil, fmt.Errorf("account has %d devices, at most %d fit in a record", len(devices), records.MaxDevices)
	}
	slices.SortFunc(devices, func(a, b *pcrypto.DeviceCert) int { return strings.Compare(string(a.Device), string(b.Device)) })
	// Admins: this device, those the last record named that are still
	// listed, and those being promoted.
	want := map[pcrypto.DeviceID]bool{svc.ID.DeviceCert.Device: true}
	for _, d := range promote {
		want[d] = true
	}
	if stored != nil {
		for _, d := range stored.Admins {
			want[d] = true
		}
	}
	var admins []pcrypto.DeviceID
	for _, dc := range devices {
		if want[dc.Device] {
			admins = append(admins, dc.Device)
		}
	}
	if stored != nil && sameRecord(stored, devices, crl, admins) && stored.Expires.Sub(now) > svc.o.AccountTTL/3 {
		return stored.Raw, nil
	}
	seq := svc.nextSeq(now)
	rec, err := records.NewAccountRecord(ak, svc.ID.AccountCert, devices, admins, crl, seq, svc.o.AccountTTL, now)
	if err != nil {
		return nil, err
	}
	// Pin what goes out, so no older record of the account is taken back
	// later (from the DHT, a contact or another device).
	if err := svc.Store.Pins().Raise(svc.ID.AccountCert.ID, pinOf(seq, crl), true); err != nil {
		return nil, err
	}
	if _, err := svc.Store.PutOwnRecord(rec, seq); err != nil {
		return nil, err
	}
	return rec, nil
}

// sameRecord reports whether rec lists exactly devices, crl and admins.
func sameRecord(rec *records.Account, devices []*pcrypto.DeviceCert, crl *pcrypto.CRL, admins []pcrypto.DeviceID) bool {
	if len(rec.Devices) != len(devices) || !slices.Equal(rec.Admins, admins) {
		return false
	}
	have := map[pcrypto.DeviceID][]byte{}
	for _, dc := range rec.Devices {
		have[dc.Device] = dc.Raw()
	}
	for _, dc := range devices {
		if !bytes.Equal(have[dc.Device], dc.Raw()) {
			return false
		}
	}
	switch {
	case crl == nil || rec.CRL == nil:
		return crl == nil && rec.CRL == nil
	default:
		return crl.Number.Cmp(rec.CRL.Number) == 0
	}
}
