package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calltransport"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
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
	// DHTMode is "auto" (server when AutoNAT finds us publicly reachable,
	// else client), "client" or "server". Defaults to "auto".
	DHTMode string
	// PresenceTTL is the lifetime of the device presence record; it is
	// republished at a third of it. Defaults to 1h.
	PresenceTTL time.Duration
	// AccountTTL is the lifetime of the account record; it is republished
	// at a third of it. Defaults to 24h.
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
	Reachability string
	// ICELoopback offers loopback ICE candidates (tests and one-machine
	// labs). Off by default.
	ICELoopback bool
	// ICERelayOnly restricts calls to TURN relay candidates (privacy mode,
	// tests). Off by default.
	ICERelayOnly bool
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
		o.DHTMode = "auto"
	}
	if o.PresenceTTL == 0 {
		o.PresenceTTL = time.Hour
	}
	if o.AccountTTL == 0 {
		o.AccountTTL = 24 * time.Hour
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

// Node is one running Parley device.
type Node struct {
	o             Options
	log           *slog.Logger
	st            *store.Store
	id            *Identity
	h             host.Host
	dht           *dht.IpfsDHT
	bootstraps    []peer.AddrInfo
	ev            events
	outboxKick    chan struct{} // wakes the delivery loop; buffered 1
	publishNow    chan struct{} // wakes the publish loop; buffered 1
	bootstrapKick chan struct{} // wakes the bootstrap loop; buffered 1

	mu        sync.Mutex // guards the following fields
	published time.Time
	running   bool
	seq       uint64
	reach     network.Reachability

	cache recordCache

	ctxMu   sync.Mutex      // guards runCtx_
	runCtx_ context.Context // Run's context; calls live within it

	callsMu   sync.Mutex // guards calls and callOrder
	calls     map[callproto.CallID]*call
	callOrder []callproto.CallID
	replay    callproto.ReplayCache

	confMu sync.Mutex // guards confs
	confs  map[callproto.CallID]*conference

	// sigDropped counts call signalling messages refused as malformed,
	// oversized, forged or not for us.
	sigDropped atomic.Uint64

	// devs holds linking sessions and the state of sync between the
	// account's devices (devices.go, sync.go).
	devs deviceState

	turnMu      sync.Mutex // guards turnServers and turnExpires
	turnServers []calltransport.ICEServer
	turnExpires time.Time

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
	bs, err := parseBootstraps(o.Bootstraps)
	if err != nil {
		return nil, err
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
	n = &Node{
		o:             o,
		log:           o.Logger.With("device", id.DeviceCert.Device.Short()),
		st:            st,
		id:            id,
		bootstraps:    bs,
		outboxKick:    make(chan struct{}, 1),
		publishNow:    make(chan struct{}, 1),
		bootstrapKick: make(chan struct{}, 1),
	}
	if err := n.buildHost(); err != nil {
		id.Wipe()
		return nil, err
	}
	return n, nil
}

// parseBootstraps turns multiaddr strings into peer infos, merging addresses
// of the same peer.
func parseBootstraps(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap %q: %w (want e.g. /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…)", s, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w (each address must end in /p2p/PEER-ID)", err)
	}
	return infos, nil
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
	switch n.o.Reachability {
	case "", "auto":
	case "private":
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	case "public":
		opts = append(opts, libp2p.ForceReachabilityPublic())
	default:
		return fmt.Errorf("node: %w: reachability %q (want auto, private or public)", ErrInvalidInput, n.o.Reachability)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return fmt.Errorf("node: libp2p host: %w", err)
	}
	mode := dht.ModeAuto
	switch n.o.DHTMode {
	case "auto":
	case "client":
		mode = dht.ModeClient
	case "server":
		mode = dht.ModeServer
	default:
		h.Close()
		return fmt.Errorf("node: %w: DHT mode %q (want auto, client or server)", ErrInvalidInput, n.o.DHTMode)
	}
	dopts := append(records.DHTOptions(n.o.Now), dht.Mode(mode), dht.BootstrapPeers(n.bootstraps...))
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
// It closes the node before it returns.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.ctxMu.Lock()
	n.runCtx_ = ctx
	n.ctxMu.Unlock()
	n.h.SetStreamHandler(ContactProtocol, n.handleContactStream)
	defer n.h.RemoveStreamHandler(ContactProtocol)
	n.h.SetStreamHandler(CallProtocol, n.handleCallStream)
	defer n.h.RemoveStreamHandler(CallProtocol)
	n.h.SetStreamHandler(CallControlProtocol, n.handleCallControlStream)
	defer n.h.RemoveStreamHandler(CallControlProtocol)
	n.h.SetStreamHandler(SyncProtocol, n.handleSyncStream)
	defer n.h.RemoveStreamHandler(SyncProtocol)
	n.h.SetStreamHandler(ConferenceProtocol, n.handleConfStream)
	defer n.h.RemoveStreamHandler(ConferenceProtocol)
	defer n.endAllCalls()
	n.mu.Lock()
	n.running = true
	n.mu.Unlock()

	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){n.bootstrapLoop, n.publishAfterSync, n.outboxLoop, n.watchEvents, n.syncLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	n.log.Info("node running", "account", n.id.AccountCert.ID, "peer", n.h.ID().String(), "addrs", n.h.Addrs())
	<-ctx.Done()
	wg.Wait()
	n.mu.Lock()
	n.running = false
	n.mu.Unlock()
	return nil
}

// runCtx is the context of Run (background before Run).
func (n *Node) runCtx() context.Context {
	n.ctxMu.Lock()
	defer n.ctxMu.Unlock()
	if n.runCtx_ == nil {
		return context.Background()
	}
	return n.runCtx_
}

// endAllCalls hangs up every call (the daemon is stopping).
func (n *Node) endAllCalls() {
	for _, c := range n.activeCalls() {
		c.end("the daemon stopped", callproto.ControlHangup)
	}
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

// kick wakes a loop through its buffered channel without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
