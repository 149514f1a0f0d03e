package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/parleyhq/parley/bootstrap/turncred"
	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/internal/dhtstore"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/internal/turnstream"
)

// Connection manager watermarks: a bootstrap keeps many more connections
// than a node (every node behind NAT holds one for its relay reservation).
const (
	connLowWater  = 512
	connHighWater = 1024
	connGrace     = time.Minute
	// shutdownTimeout bounds the graceful stop of the metrics server.
	shutdownTimeout = 5 * time.Second
	// protectTag protects connections to the other bootstraps from the
	// connection manager.
	protectTag = "parley-bootstrap-peer"
)

// Server is a running bootstrap server. Create it with New, serve with Run,
// stop by cancelling Run's context or with Close.
type Server struct {
	cfg        *settings
	log        *slog.Logger
	host       host.Host
	dht        *dht.IpfsDHT
	store      *dhtstore.Store // the DHT's value store
	dhtMetrics dhtstore.Metrics
	lock       *os.File // flock on DataDir/bootstrap.lock, held until Close
	relay      *relayTracer

	turn        *turnsrv.Server // nil when disabled
	turnAddr    *net.UDPAddr
	turnURLs    []string
	turnMetrics turnsrv.Metrics
	turnTokens  *turnsrv.Tokens      // TURN username tokens → devices, shared by the issuer and the TURN server
	turnStreams *turnstream.Listener // TURN over libp2p streams; nil when TURN is disabled
	issuer      *turncred.Issuer
	credMetrics turncred.Metrics

	reg       *prometheus.Registry
	metricsLn net.Listener // nil when disabled
	httpSrv   *http.Server

	running   atomic.Bool
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
}

// New starts a bootstrap server: it loads or creates the host key, listens
// on the libp2p, TURN and metrics addresses and starts the DHT, relay and
// TURN services. Peering with Config.Peers and the metrics HTTP server start
// with Run. On error everything opened is closed again.
func New(cfg Config) (*Server, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: c, log: c.Logger, closing: make(chan struct{})}
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start opens everything; on error the caller closes what was opened.
func (s *Server) start() error {
	c := s.cfg
	if err := ensureDataDir(c.DataDir); err != nil {
		return err
	}
	lock, err := lockDataDir(c.DataDir)
	if err != nil {
		return err
	}
	s.lock = lock
	key, err := loadOrCreateKey(filepath.Join(c.DataDir, KeyFile))
	if err != nil {
		return err
	}
	secret, err := turnSecret(c)
	if err != nil {
		return fmt.Errorf("TURN secret: %w", err)
	}
	if err := s.startTURN(c, secret); err != nil {
		return err
	}
	if s.issuer, err = s.newIssuer(c, secret); err != nil {
		return err
	}
	s.reg = prometheus.NewRegistry()
	if err := s.startHost(key); err != nil {
		return err
	}
	s.issuer.Register(s.host)
	if s.turnStreams != nil {
		s.host.SetStreamHandler(turnstream.ID, s.turnStreams.Handle)
	}
	for _, p := range c.peers {
		if p.ID != s.host.ID() {
			s.host.ConnManager().Protect(p.ID, protectTag)
		}
	}
	if err := s.registerMetrics(); err != nil {
		return err
	}
	if c.MetricsAddr != "" {
		if s.metricsLn, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			return fmt.Errorf("metrics: %w (choose another address with --metrics-addr HOST:PORT, or --metrics-addr \"\" to disable the metrics server)", err)
		}
		s.httpSrv = &http.Server{
			Handler:           s.handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
	}
	s.log.Info("bootstrap server started", "peer_id", s.host.ID(), "addrs", s.Addrs(), "turn", s.turnURLs)
	return nil
}

// startHost makes the libp2p host and the DHT.
func (s *Server) startHost(key lcrypto.PrivKey) error {
	c := s.cfg
	rm, low, high, err := resourceManager(s.log)
	if err != nil {
		return err
	}
	cm, err := connmgr.NewConnManager(low, high, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		rm.Close()
		return fmt.Errorf("connection manager: %w", err)
	}
	s.relay = &relayTracer{MetricsTracer: relayv2.NewMetricsTracer(relayv2.WithRegisterer(s.reg))}
	acl := newSubnetACL(c.Relay.MaxReservationsPerSubnet, c.Relay.ReservationTTL, c.Relay.CircuitDuration)
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrs(c.listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.PrometheusRegisterer(s.reg),
		libp2p.EnableNATService(),
		// A bootstrap is a public server by definition: without this the
		// relay service would wait for AutoNAT to confirm it.
		libp2p.ForceReachabilityPublic(),
		libp2p.EnableRelayService(relayv2.WithResources(c.Relay.resources()), relayv2.WithMetricsTracer(s.relay), relayv2.WithACL(acl)),
	}
	if len(c.announce) > 0 {
		announce := c.announce
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	if s.host, err = libp2p.New(opts...); err != nil {
		return fmt.Errorf("libp2p host: %w", err)
	}
	acl.setHost(s.host)
	stale := newStaleConns(s.closing)
	stale.closed = func(c network.Conn) {
		s.log.Debug("closed a dead connection left by a peer that connected again", "peer", c.RemotePeer())
	}
	s.host.Network().Notify(stale.notifiee())
	// A new account record may revoke a device the credential issuer
	// found unrevoked: it forgets that verdict at once.
	if s.store, err = dhtstore.New(dhtstore.Options{Limits: dhtstore.Limits(c.DHT), Now: c.Now, Metrics: &s.dhtMetrics, OnAccount: s.issuer.AccountChanged}); err != nil {
		return fmt.Errorf("DHT store: %w", err)
	}
	dopts := append(records.DHTOptions(c.Now), s.store.DHTOptions()...)
	dopts = append(dopts, dht.Mode(dht.ModeServer), dht.BootstrapPeers(s.otherPeers()...))
	if s.dht, err = dht.New(s.host, dopts...); err != nil {
		return fmt.Errorf("DHT: %w", err)
	}
	return nil
}

// resourceManager is libp2p's default resource manager (its limits scaled
// to this machine's memory and file descriptors) and the connection
// manager's watermarks fitted under its connection limit. libp2p warns
// at every start when the high watermark exceeds that limit, as it does
// on a small machine; lowering the watermarks is what the warning asks
// for, said once at Info with the numbers.
func resourceManager(log *slog.Logger) (rm network.ResourceManager, low, high int, err error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err = rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("resource manager: %w", err)
	}
	low, high = connLowWater, connHighWater
	if l, ok := rm.(interface{ GetConnLimit() int }); ok {
		if n := l.GetConnLimit(); n > 0 && n < high {
			high, low = n, min(low, n/2)
			log.Info("connection manager watermarks lowered to this machine's connection limit",
				"limit", n, "low", low, "high", high, "default_high", connHighWater,
				"why", "libp2p scales its connection limit to the memory and file descriptors available")
		}
	}
	return rm, low, high, nil
}

// otherPeers returns the configured peers without this server.
func (s *Server) otherPeers() []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, p := range s.cfg.peers {
		if p.ID != s.host.ID() {
			out = append(out, p)
		}
	}
	return out
}

// Run serves until ctx is done or Close is called, then closes everything
// and returns nil. It returns an error only if a component fails (such as
// the metrics HTTP server), after closing the rest.
func (s *Server) Run(ctx context.Context) error {
	select {
	case <-s.closing:
		return fmt.Errorf("bootstrap.Run: %w", ErrClosed)
	default:
	}
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("bootstrap.Run: %w", ErrAlreadyRunning)
	}
	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		select {
		case <-gctx.Done():
		case <-s.closing:
		}
		return errStop
	})
	if s.httpSrv != nil {
		eg.Go(func() error {
			err := s.httpSrv.Serve(s.metricsLn)
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("metrics server: %w", err)
		})
		eg.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			_ = s.httpSrv.Shutdown(sctx)
			return nil
		})
	}
	eg.Go(func() error {
		s.peerLoop(gctx)
		return nil
	})
	_ = s.dht.Bootstrap(gctx)
	err := eg.Wait()
	closeErr := s.Close()
	s.log.Info("bootstrap server stopped")
	if errors.Is(err, errStop) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("bootstrap.Run: %w", err)
	}
	if closeErr != nil {
		return fmt.Errorf("bootstrap.Run: close: %w", closeErr)
	}
	return nil
}

// errStop ends Run's errgroup when the server is asked to stop.
var errStop = errors.New("stop")

// Close stops the server and releases its sockets. It is safe to call more
// than once and concurrently with Run, which then returns.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		var errs []error
		if s.httpSrv != nil {
			errs = append(errs, s.httpSrv.Close())
		}
		if s.metricsLn != nil {
			if err := s.metricsLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if s.turn != nil {
			errs = append(errs, s.turn.Close())
		}
		if s.dht != nil {
			errs = append(errs, s.dht.Close())
		}
		if s.host != nil {
			errs = append(errs, s.host.Close())
		}
		if s.lock != nil {
			errs = append(errs, s.lock.Close()) // releases the flock
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Host returns the server's libp2p host.
func (s *Server) Host() host.Host { return s.host }

// DHT returns the server's DHT.
func (s *Server) DHT() *dht.IpfsDHT { return s.dht }

// Addrs returns the server's full multiaddrs, each ending in /p2p/ID: what
// operators give nodes as --bootstrap.
func (s *Server) Addrs() []ma.Multiaddr {
	p2p, err := ma.NewComponent("p2p", s.host.ID().String())
	if err != nil {
		return nil
	}
	addrs := s.host.Addrs()
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.Encapsulate(p2p.Multiaddr()))
	}
	return out
}

// MetricsAddr returns the address the metrics server listens on, or nil
// when it is disabled.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// TURNAddr returns the UDP address (the TCP port is the same) of the TURN
// server, or nil when it is disabled.
func (s *Server) TURNAddr() *net.UDPAddr { return s.turnAddr }

// TURNURLs returns the STUN/TURN URLs handed to nodes with credentials.
func (s *Server) TURNURLs() []string { return append([]string(nil), s.turnURLs...) }
