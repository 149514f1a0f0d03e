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
	"sync"
	"time"

	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
)

// Options configure the devices service.
type Options struct {
	// LookupTimeout bounds one DHT lookup of the account's own records.
	// Defaults to 5s.
	LookupTimeout time.Duration
}

// Service links, syncs and revokes the devices of one account.
type Service struct {
	service.Env
	o        Options
	pres     *presence.Service
	contacts *contacts.Service

	// devs holds the state of sync (devices.go).
	devs deviceState
	// syncSlots bounds the sync requests served at once.
	syncSlots chan struct{}
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
	svc := &Service{
		Env: env, o: o, pres: pres, contacts: cs,
		syncSlots: make(chan struct{}, maxSyncStreams),
	}
	svc.devs.init()
	return svc, nil
}

// Serve answers sync streams and runs the sync loop until ctx is done.
func (svc *Service) Serve(ctx context.Context) error {
	svc.Host.SetStreamHandler(SyncProtocol, svc.handleSyncStream)
	defer svc.Host.RemoveStreamHandler(SyncProtocol)
	svc.Host.SetStreamHandler(PromoteProtocol, svc.handlePromoteStream)
	defer svc.Host.RemoveStreamHandler(PromoteProtocol)
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
