// Package contacts is the contact protocol of a Parley device
// (/parley/contact/1.0.0): requests, acceptances, declines and account
// record updates between accounts, each one signed message on its own
// stream with a one-line reply. Outgoing messages wait in a durable outbox
// (bbolt) and are retried until a device of the other account acknowledges
// one. Every change of a contact's state goes through one transition table
// (state.go), the same table docs/protocol.md shows.
package contacts

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
)

// Options configure the contacts service. Zero values mean the defaults.
type Options struct {
	// RetryInterval is how often undelivered messages are retried (they
	// are also retried when a bootstrap connection comes up). Defaults to
	// 15s.
	RetryInterval time.Duration
	// AccountCacheTTL is how long a cached account record of the sender
	// is trusted for its CRL. Defaults to 30s.
	AccountCacheTTL time.Duration
	// MaxPendingRequests bounds the contact requests received and not yet
	// answered: anyone who knows an account ID can send one, and accounts
	// cost nothing to make. When a new request would pass the bound, the
	// oldest pending one is dropped (and counted). Defaults to 256.
	MaxPendingRequests int
	// StrangersRelayOnly refuses messages from accounts that are not
	// accepted contacts over a direct connection they opened, even when
	// this device publishes no relay address (by default such messages
	// are refused only when it does: then the sender could have used
	// the relay). Tests and labs set it.
	StrangersRelayOnly bool
	// Changed is called after a local change the account's other devices
	// should learn of (a rename); the devices service syncs then. Optional.
	Changed func()
	// NoLongerAccepted, if set, is called (on a goroutine of its own)
	// when an accepted contact is blocked or removed, by the user or by
	// the contact's own message: the calls service ends calls with it.
	NoLongerAccepted func(pcrypto.AccountID)
}

// Service is the contacts service of one device.
type Service struct {
	service.Env
	o          Options
	pres       *presence.Service
	outboxKick chan struct{} // wakes the delivery loop; buffered 1

	// mu serialises transitions (read state, look up, write).
	mu sync.Mutex
	// droppedRequests counts received requests dropped to keep the
	// pending ones within MaxPendingRequests.
	droppedRequests atomic.Uint64
}

// New returns the contacts service; pres resolves and reaches accounts.
func New(env service.Env, pres *presence.Service, o Options) (*Service, error) {
	if err := env.Validate(); err != nil {
		return nil, err
	}
	if pres == nil {
		return nil, errors.New("contacts: the presence service is required")
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 15 * time.Second
	}
	if o.RetryInterval < 0 {
		return nil, errors.New("contacts: RetryInterval must be positive")
	}
	if o.AccountCacheTTL == 0 {
		o.AccountCacheTTL = 30 * time.Second
	}
	if o.MaxPendingRequests <= 0 {
		o.MaxPendingRequests = 256
	}
	return &Service{
		Env: env, o: o,
		pres: pres, outboxKick: make(chan struct{}, 1),
	}, nil
}

// Serve answers contact streams and delivers the outbox until ctx is done.
func (svc *Service) Serve(ctx context.Context) error {
	if svc.pres.KeyMadeAtStart() {
		// An account made before presence keys: its contacts never got
		// one in an accept.
		svc.mu.Lock()
		err := svc.sendKeyLocked()
		svc.mu.Unlock()
		if err != nil {
			svc.Log.Error("queueing the presence key to the contacts", "err", err)
		}
	}
	svc.Host.SetStreamHandler(ContactProtocol, svc.handleContactStream)
	defer svc.Host.RemoveStreamHandler(ContactProtocol)
	var wg sync.WaitGroup
	wg.Go(func() { svc.outboxLoop(ctx) })
	wg.Wait()
	return nil
}

// Retry wakes the delivery loop (a bootstrap connection came up: contacts
// may be reachable now).
func (svc *Service) Retry() { service.Kick(svc.outboxKick) }

func (svc *Service) changed() {
	if svc.o.Changed != nil {
		svc.o.Changed()
	}
}

// DroppedRequests counts received contact requests dropped, oldest first,
// to keep the pending ones within Options.MaxPendingRequests.
func (svc *Service) DroppedRequests() uint64 { return svc.droppedRequests.Load() }
