// Package devices keeps the devices of one account in agreement: contacts,
// settings, device certificates and revocations in sync between them
// (/parley/sync/1.0.0), revoking a device (a new CRL, merged so that
// revocations only accumulate), checking the account record in the DHT and
// pushing it to contacts when it changes. Linking a new device is package
// link.
package devices

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/store"
)

// Options configure the devices service.
type Options struct {
	// LookupTimeout bounds one DHT lookup of the account's own records.
	// Defaults to 5s.
	LookupTimeout time.Duration
	// Now is the clock (set from service.Env).
	Now func() time.Time
}

// Service links, syncs and revokes the devices of one account.
type Service struct {
	o        Options
	h        host.Host
	dht      *dht.IpfsDHT
	st       *store.Store
	id       *account.Identity
	log      *slog.Logger
	ev       *service.Events
	pres     *presence.Service
	contacts *contacts.Service

	// devs holds the state of sync (devices.go).
	devs deviceState
}

// New returns the devices service.
func New(env service.Env, pres *presence.Service, cs *contacts.Service, o Options) (*Service, error) {
	if err := env.Validate(); err != nil {
		return nil, err
	}
	if pres == nil || cs == nil {
		return nil, errors.New("devices: the presence and contacts services are required")
	}
	if o.LookupTimeout == 0 {
		o.LookupTimeout = 5 * time.Second
	}
	o.Now = env.Now
	svc := &Service{
		o: o, h: env.Host, dht: env.DHT, st: env.Store, id: env.ID, log: env.Log,
		ev: env.Events, pres: pres, contacts: cs,
	}
	svc.devs.init()
	return svc, nil
}

// Serve answers sync streams and runs the sync loop until ctx is done.
func (svc *Service) Serve(ctx context.Context) error {
	svc.h.SetStreamHandler(SyncProtocol, svc.handleSyncStream)
	defer svc.h.RemoveStreamHandler(SyncProtocol)
	var wg sync.WaitGroup
	wg.Go(func() { svc.syncLoop(ctx) })
	wg.Wait()
	return nil
}

// Ready is closed once the first sync round at start is over (or could not
// finish in time): the presence service publishes only then, so a device
// that was offline adopts new revocations before it publishes.
func (svc *Service) Ready() <-chan struct{} { return svc.devs.ready }

// KickSync wakes the sync loop (a local change to replicate).
func (svc *Service) KickSync() { svc.devs.kickSync() }
