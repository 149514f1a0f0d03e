// Package presence is the rendezvous service of a Parley device: it keeps
// the device connected to its bootstrap servers, publishes the account
// record and the device's presence record in the DHT (at start, at a third
// of their lifetime and whenever addresses or reachability change), and
// resolves other accounts: account ID → verified account record → devices →
// presence records → libp2p connections. Resolved account records are
// cached; a record a contact pushes directly replaces an older cached one.
//
// The records' formats and validators are package records; docs/protocol.md
// describes the lookup.
package presence

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/parleyhq/parley/internal/records"

	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/store"
)

// Options configure the presence service. Zero values mean the defaults.
type Options struct {
	// Bootstraps are the bootstrap servers to keep connections to.
	Bootstraps []peer.AddrInfo
	// PresenceTTL is the lifetime of the presence record. Defaults to 1h.
	PresenceTTL time.Duration
	// AccountTTL is the lifetime of the account record. Defaults to 30
	// days (records.MaxAccountTTL); an admin re-signs it when a third is
	// left.
	AccountTTL time.Duration
	// LookupTimeout bounds one DHT lookup. Defaults to 5s.
	LookupTimeout time.Duration
	// AccountCacheTTL is how long a resolved account record is reused;
	// negative disables the cache. Defaults to 30s.
	AccountCacheTTL time.Duration
	// MaxCachedAccounts bounds the account-record cache. Defaults to
	// DefaultMaxCachedAccounts.
	MaxCachedAccounts int
	// RelayAddrs, if set, returns the circuit relay addresses of the
	// reservations the device holds now; they are published with the
	// host's own addresses (the host lists relay addresses only once
	// AutoNAT has found it private).
	RelayAddrs func() []ma.Multiaddr
	// PrivateAddrs says whether the presence record carries private
	// addresses. Defaults to PrivateAddrsAuto.
	PrivateAddrs PrivateAddrs
}

func (o *Options) setDefaults() {
	if o.PresenceTTL == 0 {
		o.PresenceTTL = time.Hour
	}
	if o.AccountTTL == 0 {
		o.AccountTTL = records.MaxAccountTTL
	}
	if o.LookupTimeout == 0 {
		o.LookupTimeout = 5 * time.Second
	}
	if o.AccountCacheTTL == 0 {
		o.AccountCacheTTL = 30 * time.Second
	}
}

// Service publishes this device's records and resolves other accounts.
type Service struct {
	service.Env
	o             Options
	bootstraps    []peer.AddrInfo
	private       bool          // publish private addresses (Options.PrivateAddrs resolved)
	publishNow    chan struct{} // wakes the publish loop; buffered 1
	bootstrapKick chan struct{} // wakes the bootstrap loop; buffered 1

	signMu sync.Mutex // serialises choosing and signing the account record

	keyMu sync.Mutex        // guards key and serialises changing it
	key   store.PresenceKey // the account's presence key (key.go)

	keyMade bool // New made the account's first presence key

	mu        sync.Mutex // guards the following fields
	published time.Time
	seq       uint64

	cache          recordCache
	lookups        atomic.Uint64 // DHT record lookups made
	relayPublished atomic.Bool   // the last presence record published had a relay address
}

// RelayPublished reports whether the presence record this device last
// published carries a relay address: then every device can reach it
// through the relay, and a stranger has no reason to connect directly.
func (svc *Service) RelayPublished() bool { return svc.relayPublished.Load() }

// New returns the presence service of env's device.
func New(env service.Env, o Options) (*Service, error) {
	if err := env.Validate(); err != nil {
		return nil, err
	}
	o.setDefaults()
	if err := o.PrivateAddrs.Check(); err != nil {
		return nil, err
	}
	key, made, err := loadPresenceKey(env.Store)
	if err != nil {
		return nil, fmt.Errorf("presence key: %w", err)
	}
	return &Service{
		key: key, keyMade: made,
		Env: env, o: o,
		bootstraps:    o.Bootstraps,
		private:       publishPrivate(o.PrivateAddrs, o.Bootstraps),
		publishNow:    make(chan struct{}, 1),
		bootstrapKick: make(chan struct{}, 1),
		cache:         recordCache{max: o.MaxCachedAccounts},
	}, nil
}

// Serve keeps the bootstrap connections and publishes the records until ctx
// is done. Publishing waits for start to be closed (the devices service
// closes it once it has synced with the account's other devices, so a
// fresh device does not publish a stale device list).
func (svc *Service) Serve(ctx context.Context, start <-chan struct{}) error {
	var wg sync.WaitGroup
	wg.Go(func() { svc.bootstrapLoop(ctx) })
	wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-start:
		}
		svc.publishLoop(ctx)
	})
	wg.Wait()
	return nil
}

// PublishNow asks the publish loop to republish soon (debounced).
func (svc *Service) PublishNow() { service.Kick(svc.publishNow) }

// BootstrapLost wakes the bootstrap loop to redial at once.
func (svc *Service) BootstrapLost() { service.Kick(svc.bootstrapKick) }

// Published is when the records were last published (zero if never).
func (svc *Service) Published() time.Time {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.published
}

// Bootstraps are the configured bootstrap servers.
func (svc *Service) Bootstraps() []peer.AddrInfo { return svc.bootstraps }

// LookupTimeout bounds one DHT lookup.
func (svc *Service) LookupTimeout() time.Duration { return svc.o.LookupTimeout }
