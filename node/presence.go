package node

import (
	"context"
	"fmt"
	"time"

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
)

// publishLoop publishes the account record and this device's presence
// record when the DHT has peers, again at a third of their lifetime, and
// whenever addresses, reachability or bootstrap connections change.
func (n *Node) publishLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.publishNow:
			if gap := time.Since(last); gap < minPublishGap {
				t.Reset(minPublishGap - gap)
				continue
			}
		}
		next, ok := n.publishOnce(ctx)
		if ok {
			last = time.Now()
		}
		t.Reset(next)
	}
}

// publishOnce puts both records and returns when to publish next, and
// whether it published.
func (n *Node) publishOnce(ctx context.Context) (time.Duration, bool) {
	if n.dht.RoutingTable().Size() == 0 {
		return 100 * time.Millisecond, false // not joined yet; a bootstrap connection also wakes us
	}
	addrs := n.h.Addrs()
	if len(addrs) == 0 {
		return publishRetry, false
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	now := n.o.Now()
	acct, err := n.accountRecord(now)
	if err != nil {
		n.log.Error("cannot build account record", "err", err)
		return publishRetry, false
	}
	if err := n.dht.PutValue(ctx, records.AccountKey(n.id.AccountCert.ID), acct); err != nil {
		n.log.Warn("publishing account record failed", "err", err)
		return publishRetry, false
	}
	if len(addrs) > records.MaxAddrs {
		addrs = addrs[:records.MaxAddrs]
	}
	pres, err := records.NewPresence(n.id.DeviceKey, n.id.AccountCert.ID, addrs, n.nextSeq(now), n.o.PresenceTTL, now)
	if err != nil {
		n.log.Error("cannot build presence record", "err", err)
		return publishRetry, false
	}
	if err := n.dht.PutValue(ctx, records.PresenceKey(n.id.DeviceCert.Device), pres); err != nil {
		n.log.Warn("publishing presence failed", "err", err)
		return publishRetry, false
	}
	n.mu.Lock()
	n.published = now
	n.mu.Unlock()
	n.log.Debug("published records", "addrs", len(addrs))
	n.ev.publish(apitype.Event{Type: apitype.EventPresencePublished, Time: now, Device: n.h.ID().String()})
	return min(n.o.PresenceTTL, n.o.AccountTTL) / 3, true
}

// nextSeq returns a sequence number larger than any this device used before:
// milliseconds since the epoch, bumped when the clock did not move.
func (n *Node) nextSeq(now time.Time) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq = max(n.seq+1, uint64(now.UnixMilli()))
	return n.seq
}

// accountRecord builds the signed account record from the store: the
// account certificate, the certificates of the devices not revoked, and the
// CRL.
func (n *Node) accountRecord(now time.Time) ([]byte, error) {
	crl, err := n.loadCRL()
	if err != nil {
		return nil, err
	}
	ders, err := n.st.DeviceCerts()
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
		if pcrypto.VerifyDevice(n.id.AccountCert.ID, n.id.AccountCert, dc, crl, now) != nil {
			continue // expired; not worth advertising
		}
		devices = append(devices, dc)
	}
	if len(devices) > records.MaxDevices {
		return nil, fmt.Errorf("account has %d devices, at most %d fit in a record", len(devices), records.MaxDevices)
	}
	return records.NewAccount(n.id.AccountKey, n.id.AccountCert, devices, crl, n.nextSeq(now), n.o.AccountTTL, now)
}

// loadCRL returns the account's CRL from the store, or nil.
func (n *Node) loadCRL() (*pcrypto.CRL, error) {
	der, _, err := n.st.CRL()
	if err != nil || der == nil {
		return nil, err
	}
	return pcrypto.ParseCRL(der)
}
