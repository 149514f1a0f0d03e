package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/routing"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parleyhq/parley/bootstrap/turncred"
	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/internal/turnstream"
)

// turnSecret returns the configured TURN secret, reading or generating the
// secret file as described on TURNConfig.Secret.
func turnSecret(s *settings) ([]byte, error) {
	switch {
	case len(s.TURN.Secret) > 0:
		return s.TURN.Secret, nil
	case s.TURN.SecretFile != "":
		return readSecretFile(s.TURN.SecretFile)
	default:
		return loadOrCreateSecret(filepath.Join(s.DataDir, SecretFile))
	}
}

// startTURN opens the UDP and TCP sockets and starts the TURN server. It
// returns the server (nil when disabled) and the URLs handed to nodes.
func (s *Server) startTURN(cfg *settings, secret []byte) error {
	if len(secret) < turnsrv.MinSecretLen {
		return fmt.Errorf("%w: TURN secret shorter than %d bytes", ErrConfig, turnsrv.MinSecretLen)
	}
	s.turnTokens = turnsrv.NewTokens(0)
	if cfg.TURN.Disabled {
		s.turnURLs = cfg.TURN.URLs
		return nil
	}
	sockets := turnUDPSockets(cfg.TURN.PionDataPath)
	if cfg.TURN.UDPSockets > 0 && haveReusePort {
		sockets = cfg.TURN.UDPSockets
	}
	pcs, ln, err := listenTURN(cfg.TURN.ListenAddr, sockets)
	if err != nil {
		return err
	}
	udpAddr := pcs[0].LocalAddr().(*net.UDPAddr)
	relayIP, err := pickRelayIP(cfg.TURN.RelayIP, udpAddr.IP)
	if err != nil {
		closeAll(pcs)
		ln.Close()
		return err
	}
	// TURN over libp2p streams (internal/turnstream): for devices that
	// reach this server only over TCP port 443 (or whatever port libp2p
	// listens on). The handler is registered once the host runs.
	s.turnStreams = turnstream.NewListener(turnstream.ListenerConfig{
		Addr:   &net.TCPAddr{IP: relayIP, Port: 443},
		Logger: s.log.With("component", "turn-stream"),
	})
	s.turn, err = turnsrv.New(turnsrv.Config{
		Secret:            secret,
		RelayIP:           relayIP,
		PacketConns:       pcs,
		Listeners:         []net.Listener{ln, s.turnStreams},
		AllowPrivatePeers: cfg.TURN.AllowPrivatePeers,
		AllowCGNATPeers:   cfg.TURN.AllowCGNATPeers,
		AllowServerPeers:  cfg.TURN.AllowServerPeers,
		ServerAddrs:       serverIPs(cfg),
		Quota:             turnsrv.Quota{PerUser: cfg.TURN.UserQuota, PerIP: cfg.TURN.IPQuota, Total: cfg.TURN.TotalQuota},
		Tokens:            s.turnTokens,
		PionDataPath:      cfg.TURN.PionDataPath,
		Now:               cfg.Now,
		Logger:            s.log.With("component", "turn"),
		Metrics:           &s.turnMetrics,
	})
	if err != nil {
		closeAll(pcs)
		ln.Close()
		s.turnStreams.Close()
		s.turnStreams = nil
		return fmt.Errorf("TURN: %w", err)
	}
	s.turnAddr = udpAddr
	s.turnURLs = cfg.TURN.URLs
	if len(s.turnURLs) == 0 {
		hp := net.JoinHostPort(relayIP.String(), strconv.Itoa(udpAddr.Port))
		s.turnURLs = []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp", "stun:" + hp}
	}
	return nil
}

// serverIPs are the IP addresses in the server's listen and announce
// addresses: TURN refuses them as peers (turnsrv finds those of the
// machine's interfaces itself; announced ones may be a NAT's).
func serverIPs(cfg *settings) []net.IP {
	var out []net.IP
	for _, a := range slices.Concat(cfg.listen, cfg.announce) {
		if ip, err := manet.ToIP(a); err == nil && !ip.IsUnspecified() {
			out = append(out, ip)
		}
	}
	return out
}

// turnSocketBuffer is the receive and send buffer asked for on the TURN
// UDP sockets, in bytes: every client's media arrives on them, and the
// default (about 208 KiB) overflowed under load in the relay bench
// (test/bench relay). coturn asks for the same. The kernel caps it at
// net.core.rmem_max/wmem_max.
const turnSocketBuffer = 4 << 20

// maxTURNUDPSockets bounds TURNConfig.UDPSockets.
const maxTURNUDPSockets = 64

// turnUDPSockets is the default number of UDP sockets sharing the TURN
// port. Each socket is read by one goroutine, so one socket caps what the
// server takes in at one core; with SO_REUSEPORT the kernel spreads
// clients over the sockets by their address (a client always lands on the
// same one).
//
// pion/turn relays every datagram on goroutines and needed one socket per
// core to keep up with a flood. The batched data path (Linux) spends about
// 2.3 µs of CPU per datagram under a flood, so one core is worth roughly
// 400 000 datagrams a second, and each extra socket costs a
// wake-up per burst at light load: in the relay bench on 2 cores, one
// socket instead of two took the CPU per relayed packet at 50 VoIP
// allocations from 1.33× to 0.72× coturn's, and relayed the flood as well
// (docs/performance.md). So: one socket per four cores, at most 4, for the
// data path; one per core, at most 4, for pion's.
func turnUDPSockets(pionDataPath bool) int {
	if !haveReusePort {
		return 1
	}
	if turnsrv.HaveFastPath && !pionDataPath {
		return max(1, min(runtime.GOMAXPROCS(0)/4, 4))
	}
	return max(1, min(runtime.GOMAXPROCS(0), 4))
}

// listenTURN opens the UDP sockets (several sharing one port, see
// turnUDPSockets) and a TCP listener on the same port. With port 0 it
// retries a few times in case the kernel's UDP port is taken for TCP.
func listenTURN(addr string, sockets int) ([]net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	var lastErr error
	for range 5 {
		pcs, err := listenTURNUDP(addr, sockets)
		if err != nil {
			return nil, nil, err
		}
		p := pcs[0].LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pcs, ln, nil
		}
		closeAll(pcs)
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("TURN: listen TCP %s: %w", addr, lastErr)
}

// listenTURNUDP opens n UDP sockets on addr; after the first, on the port
// the first got.
func listenTURNUDP(addr string, n int) ([]net.PacketConn, error) {
	lc := net.ListenConfig{}
	if n > 1 {
		lc.Control = reusePort
	}
	var pcs []net.PacketConn
	for range n {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			closeAll(pcs)
			return nil, fmt.Errorf("TURN: listen UDP %s: %w", addr, err)
		}
		if c, ok := pc.(*net.UDPConn); ok {
			// Best effort: a smaller buffer only means more loss under
			// bursts.
			_ = c.SetReadBuffer(turnSocketBuffer)
			_ = c.SetWriteBuffer(turnSocketBuffer)
		}
		pcs = append(pcs, pc)
		addr = pc.LocalAddr().String()
	}
	return pcs, nil
}

func closeAll(pcs []net.PacketConn) {
	for _, pc := range pcs {
		pc.Close()
	}
}

// pickRelayIP returns the configured relay IP, else the listen IP if it is
// specific, else the first global unicast IPv4 address of the machine.
func pickRelayIP(configured string, listen net.IP) (net.IP, error) {
	if configured != "" {
		return net.ParseIP(configured), nil
	}
	if listen != nil && !listen.IsUnspecified() {
		return listen, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoRelayIP, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() && !n.IP.IsPrivate() {
			return n.IP, nil
		}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP, nil
		}
	}
	return nil, ErrNoRelayIP
}

// newIssuer makes the TURN credential issuer.
func (s *Server) newIssuer(cfg *settings, secret []byte) (*turncred.Issuer, error) {
	is := &turncred.Issuer{
		Secret:        secret,
		TTL:           cfg.TURN.CredentialTTL,
		URLs:          s.turnURLs,
		RatePerMinute: cfg.TURN.CredentialRatePerMinute,
		Accounts:      s.lookupAccount,
		CheckTTL:      cfg.TURN.CredentialCheckTTL,
		Now:           cfg.Now,
		Logger:        s.log.With("component", "turn-cred"),
		Metrics:       &s.credMetrics,
		Tokens:        s.turnTokens,
	}
	if err := is.Check(); err != nil {
		return nil, errors.Join(ErrConfig, err)
	}
	return is, nil
}

// lookupAccount fetches and validates an account's record from the DHT for
// the credential issuer: this server's own store first (a device publishes
// its account's record to the bootstraps), then the network.
func (s *Server) lookupAccount(ctx context.Context, id crypto.AccountID) (*records.Account, error) {
	key := records.AccountKey(id)
	v, err := s.dht.GetValue(ctx, key, dht.Quorum(1))
	if errors.Is(err, routing.ErrNotFound) {
		return nil, fmt.Errorf("account %s: %w", id.Short(), turncred.ErrNoAccountRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", id.Short(), err)
	}
	return records.ParseAccount(key, v, s.cfg.Now())
}
