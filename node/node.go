package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/node/conference"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/devices"
	"github.com/parleyhq/parley/node/link"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parleyhq/parley/internal/dhtstore"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// DHTMode is a device's role in the DHT.
type DHTMode string

// The DHT modes.
const (
	// DHTAuto is a server when AutoNAT finds the device publicly
	// reachable, else a client.
	DHTAuto   DHTMode = "auto"
	DHTClient DHTMode = "client"
	DHTServer DHTMode = "server"
)

// Reachability is what the device assumes of its own reachability.
type Reachability string

// The reachability settings.
const (
	// ReachAuto lets AutoNAT find out (its first probes are some 15 s in).
	ReachAuto Reachability = "auto"
	// ReachPrivate: behind NAT; reserve relay slots on the bootstraps at
	// once, so the device is callable from its first seconds.
	ReachPrivate Reachability = "private"
	// ReachPublic: the device has a public address.
	ReachPublic Reachability = "public"
)

// Options configure a Node. Zero values mean the documented defaults.
type Options struct {
	// DataDir holds the store (required); it must have been initialised
	// with InitAccount or RestoreAccount.
	DataDir string
	// Passphrase unseals the private keys when they are sealed.
	Passphrase []byte
	// Bootstraps are the multiaddrs (with /p2p/ID) of the bootstrap servers.
	Bootstraps []string
	// ListenAddrs are the libp2p listen addresses, TCP or QUIC (quic-v1):
	// the host has no other transport. Defaults to TCP and QUIC on all IPv4
	// interfaces, on ports the kernel picks.
	ListenAddrs []string
	// DHTMode is the device's role in the DHT. Defaults to DHTAuto.
	DHTMode DHTMode
	// PresenceTTL is the lifetime of the device presence record; it is
	// republished at a third of it. Defaults to 1h.
	PresenceTTL time.Duration
	// AccountTTL is the lifetime of the account record; it is republished
	// when a third of it is left (admin devices sign it; members republish
	// the admin-signed bytes). Defaults to 30 days.
	AccountTTL time.Duration
	// LookupTimeout bounds one DHT lookup. Defaults to 5s.
	LookupTimeout time.Duration
	// AccountCacheTTL is how long a resolved account record is reused
	// before it is looked up again. Defaults to 30s; negative disables the
	// cache (benchmarks measure cold lookups).
	AccountCacheTTL time.Duration
	// RetryInterval is how often undelivered contact messages are retried
	// (they are also retried as soon as the target's presence appears).
	// Defaults to 15s.
	RetryInterval time.Duration
	// Reachability is "auto" (AutoNAT decides, after its first probes some
	// 15 s in), "private" (behind NAT: reserve relay slots on the
	// bootstraps at once, so the device is callable from its first
	// seconds) or "public". Defaults to "auto".
	Reachability Reachability
	// PrivateAddrs says whether the presence record carries the device's
	// private addresses (loopback, RFC 1918, link-local, ULA, CGNAT).
	// Defaults to presence.PrivateAddrsAuto: withheld when any bootstrap
	// is at a public address, published on an all-private network.
	PrivateAddrs presence.PrivateAddrs
	// StrangersRelayOnly refuses contact messages from accounts that are
	// not accepted contacts over a direct connection they opened, even
	// when the device publishes no relay address (by default they are
	// refused only when it does). Tests and labs.
	StrangersRelayOnly bool
	// ICELoopback offers loopback ICE candidates (tests and one-machine
	// labs). Off by default.
	ICELoopback bool
	// ICERelayOnly restricts calls to TURN relay candidates (privacy mode,
	// tests). Off by default.
	ICERelayOnly bool
	// TestOnlyWithholdSASConfirm makes the node, as a caller, never send
	// the SAS confirmation (tests of the callee's "unverified" warning).
	TestOnlyWithholdSASConfirm bool
	// Logger receives the node's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if len(o.ListenAddrs) == 0 {
		o.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	if o.DHTMode == "" {
		o.DHTMode = DHTAuto
	}
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
	if o.RetryInterval == 0 {
		o.RetryInterval = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Aliases that name the embedded services (an embedded field is named
// after its type, and every service type is called Service).
type (
	presenceSvc = presence.Service
	contactsSvc = contacts.Service
	devicesSvc  = devices.Service
	linkSvc     = link.Service
	callsSvc    = calls.Service
	confSvc     = conference.Service
)

// Node is one running Parley device: the libp2p host, the DHT, the store
// and the identity, and the protocol services built on them, which it
// constructs in their dependency order and supervises. The services'
// methods (the local API's operations) are promoted through the embedded
// fields.
type Node struct {
	o          Options
	log        *slog.Logger
	st         *store.Store
	id         *Identity
	h          host.Host
	dht        *dht.IpfsDHT
	bootstraps []peer.AddrInfo
	ev         service.Events
	guard      *strangerGuard // the host's resource manager

	// The services, embedded through the aliases below so that their API
	// methods are the node's (each method has exactly one owner).
	*presenceSvc
	*contactsSvc
	*devicesSvc
	*linkSvc
	*callsSvc
	*confSvc

	mu      sync.Mutex // guards the following fields
	running bool
	reach   network.Reachability

	relays relayReservations // circuit reservations held on bootstraps

	closeOnce sync.Once
	closeErr  error
}

// New opens the data directory's store (failing fast if another parleyd
// holds it), loads the identity and builds the libp2p host and DHT. It does
// not touch the network until Run.
func New(o Options) (n *Node, err error) {
	o.setDefaults()
	if o.DataDir == "" {
		return nil, fmt.Errorf("node: %w: DataDir is required", ErrInvalidInput)
	}
	bs, err := presence.ParseBootstraps(o.Bootstraps)
	if err != nil {
		return nil, err
	}
	// A data directory without a store holds no identity: say so before
	// Open would create one (a typo in --data left a new directory
	// behind).
	if _, err := os.Stat(filepath.Join(o.DataDir, store.FileName)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (no %s there): create one with: parleyd init --data %s", store.ErrNoIdentity, o.DataDir, store.FileName, o.DataDir)
	}
	st, err := store.Open(o.DataDir, &store.Options{Passphrase: o.Passphrase, Now: o.Now})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	id, err := LoadIdentity(st, o.Now())
	if errors.Is(err, store.ErrNoIdentity) {
		return nil, fmt.Errorf("%w: create one with: parleyd init --data %s", err, o.DataDir)
	}
	if errors.Is(err, store.ErrPassphraseRequired) {
		return nil, fmt.Errorf("%w: give it with --passphrase-file FILE or the PARLEY_PASSPHRASE environment variable", err)
	}
	if err != nil {
		return nil, err
	}
	if err := account.Repair(st, o.DataDir, id); err != nil {
		id.Wipe()
		return nil, err
	}
	n = &Node{
		o:          o,
		log:        o.Logger.With("device", id.DeviceCert.Device.Short()),
		st:         st,
		id:         id,
		bootstraps: bs,
	}
	if err := n.buildHost(); err != nil {
		id.Wipe()
		return nil, err
	}
	if err := n.buildServices(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// buildServices constructs the protocol services in their dependency order:
// account ← presence ← contacts ← devices ← link; contacts ← calls ←
// conference.
func (n *Node) buildServices() (err error) {
	env := service.Env{Host: n.h, DHT: n.dht, Store: n.st, ID: n.id, Log: n.log, Now: n.o.Now, Events: &n.ev}
	n.presenceSvc, err = presence.New(env, presence.Options{
		Bootstraps: n.bootstraps, PresenceTTL: n.o.PresenceTTL, AccountTTL: n.o.AccountTTL,
		LookupTimeout: n.o.LookupTimeout, AccountCacheTTL: n.o.AccountCacheTTL,
		RelayAddrs:   n.relays.Addrs,
		PrivateAddrs: n.o.PrivateAddrs,
	})
	if err != nil {
		return err
	}
	var devs *devices.Service
	var cl *calls.Service
	cs, err := contacts.New(env, n.presenceSvc, contacts.Options{
		RetryInterval: n.o.RetryInterval, AccountCacheTTL: n.o.AccountCacheTTL,
		StrangersRelayOnly: n.o.StrangersRelayOnly,
		Changed:            func() { devs.KickSync() },
		// A contact blocked or removed (here or by them) is no longer
		// one to be in a call with.
		NoLongerAccepted: func(a crypto.AccountID) { cl.EndCallsWith(a, "the contact was removed or blocked") },
	})
	if err != nil {
		return err
	}
	devs, err = devices.New(env, n.presenceSvc, cs, devices.Options{LookupTimeout: n.o.LookupTimeout})
	if err != nil {
		return err
	}
	lk, err := link.New(env, devs, link.Options{})
	if err != nil {
		return err
	}
	cl, err = calls.New(env, n.presenceSvc, cs, calls.Options{ICELoopback: n.o.ICELoopback, ICERelayOnly: n.o.ICERelayOnly, TestOnlyWithholdConfirm: n.o.TestOnlyWithholdSASConfirm})
	if err != nil {
		return err
	}
	cf, err := conference.New(env, n.presenceSvc, cs, cl, conference.Options{})
	if err != nil {
		return err
	}
	n.contactsSvc, n.devicesSvc, n.linkSvc, n.callsSvc, n.confSvc = cs, devs, lk, cl, cf
	trusted := n.trustedPeer
	n.guard.trusted.Store(&trusted)
	return nil
}

func (n *Node) buildHost() error {
	sk, err := p2pcrypto.UnmarshalEd25519PrivateKey(n.id.DeviceKey.Ed25519())
	if err != nil {
		return fmt.Errorf("node: device key: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(sk),
		libp2p.ListenAddrStrings(n.o.ListenAddrs...),
		// Parley peers and bootstraps speak TCP and QUIC only: naming the
		// transports keeps libp2p from starting its default WebSocket,
		// WebTransport and WebRTC transports (certificates, UDP muxes,
		// goroutines) that nothing dials.
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		// Nothing reads the host's Prometheus metrics in a daemon.
		libp2p.DisableMetrics(),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		libp2p.UserAgent("parleyd"),
	}
	if len(n.bootstraps) > 0 {
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(n.bootstraps))
	}
	// What presence withholds (private addresses on an internet of public
	// bootstraps) identify and the DHT withhold too: a peer that connects
	// directly, or asks a DHT server for this device, learns no more
	// than the presence record says.
	addrFilter := presence.AddrFilter(n.o.PrivateAddrs, n.bootstraps)
	if addrFilter != nil {
		opts = append(opts, libp2p.AddrsFactory(addrFilter))
	}
	switch n.o.Reachability {
	case "", ReachAuto:
	case ReachPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	case ReachPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	default:
		return fmt.Errorf("node: %w: reachability %q (want auto, private or public)", ErrInvalidInput, n.o.Reachability)
	}
	guard, err := newStrangerGuard()
	if err != nil {
		return fmt.Errorf("node: resource manager: %w", err)
	}
	opts = append(opts, libp2p.ResourceManager(guard))
	h, err := libp2p.New(opts...)
	if err != nil {
		guard.Close()
		return fmt.Errorf("node: libp2p host: %w", err)
	}
	guard.host.Store(&h)
	n.guard = guard
	mode := dht.ModeAuto
	switch n.o.DHTMode {
	case DHTAuto:
	case DHTClient:
		mode = dht.ModeClient
	case DHTServer:
		mode = dht.ModeServer
	default:
		h.Close()
		return fmt.Errorf("node: %w: DHT mode %q (want auto, client or server)", ErrInvalidInput, n.o.DHTMode)
	}
	// The DHT's value store is bounded: in server mode any peer can store
	// records here (see package internal/dhtstore).
	store, err := dhtstore.New(dhtstore.Options{Limits: dhtstore.NodeLimits(), Now: n.o.Now})
	if err != nil {
		h.Close()
		return fmt.Errorf("node: DHT store: %w", err)
	}
	dopts := append(records.DHTOptions(n.o.Now), store.DHTOptions()...)
	dopts = append(dopts, dht.Mode(mode), dht.BootstrapPeers(n.bootstraps...))
	if addrFilter != nil {
		dopts = append(dopts, dht.AddressFilter(addrFilter))
	}
	d, err := dht.New(h, dopts...)
	if err != nil {
		h.Close()
		return fmt.Errorf("node: DHT: %w", err)
	}
	n.h, n.dht = h, d
	return nil
}

// Host is the node's libp2p host.
func (n *Node) Host() host.Host { return n.h }

// Keys is the parsed identity (keys and certificates) the node runs as.
func (n *Node) Keys() *Identity { return n.id }

// Identity describes the account and device the node runs as.
func (n *Node) Identity() (*apitype.Identity, error) { return Summary(n.st, n.o.DataDir) }

// Store is the node's store.
func (n *Node) Store() *store.Store { return n.st }

// Run connects to the bootstraps, publishes the node's records, serves the
// Parley protocols and delivers pending contact messages until ctx is done.
// It closes the node before it returns; it returns once every service has.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.mu.Lock()
	n.running = true
	n.mu.Unlock()

	var wg sync.WaitGroup
	for _, serve := range []func(context.Context) error{
		func(ctx context.Context) error { return n.presenceSvc.Serve(ctx, n.devicesSvc.Ready()) },
		n.contactsSvc.Serve,
		n.devicesSvc.Serve,
		n.callsSvc.Serve,
		n.confSvc.Serve,
		n.watchHost,
		n.reserveRelays,
	} {
		wg.Go(func() {
			if err := serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
				n.log.Error("service stopped", "err", err)
				cancel()
			}
		})
	}
	n.log.Info("node running", "account", n.id.AccountCert.ID, "peer", n.h.ID().String(), "addrs", n.h.Addrs())
	<-ctx.Done()
	wg.Wait()
	n.mu.Lock()
	n.running = false
	n.mu.Unlock()
	return nil
}

// Close stops the DHT and the host, wipes the keys and closes the store.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		errs := []error{n.dht.Close(), n.h.Close(), n.st.Close()}
		n.id.Wipe()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
