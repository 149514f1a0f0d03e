package bootstrap

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/internal/dhtstore"
)

// Defaults of Config.
var (
	// DefaultListenAddrs are the libp2p listen addresses: TCP and QUIC on
	// port 4001 of every IPv4 interface.
	DefaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}
)

const (
	// DefaultTURNListenAddr is where STUN/TURN listen, on both UDP and TCP.
	DefaultTURNListenAddr = ":3478"
	// DefaultMetricsAddr is where /metrics and /healthz are served.
	DefaultMetricsAddr = "127.0.0.1:9464"
	// KeyFile is the name of the libp2p identity key file in DataDir.
	KeyFile = "bootstrap.key"
	// SecretFile is the name of the generated TURN secret file in DataDir.
	SecretFile = "turn.secret"
)

// Config configures a Server. Zero values mean the documented default.
// After a Config is passed to New it must not be modified.
type Config struct {
	// DataDir holds the persistent libp2p key file "bootstrap.key" (mode
	// 0600, created on first run) and, when no TURN secret is configured,
	// "turn.secret". Required; created with mode 0700 if missing.
	DataDir string

	// ListenAddrs are the libp2p listen multiaddrs. Defaults to
	// DefaultListenAddrs (TCP and QUIC on port 4001).
	ListenAddrs []string

	// AnnounceAddrs, when set, replace the listen addresses in what the
	// host tells peers and in Addrs: the server's public addresses, for a
	// server behind a port forward or with a wildcard listen address.
	AnnounceAddrs []string

	// Peers are the multiaddrs, ending in /p2p/ID, of the other bootstrap
	// servers. The server keeps a connection to each. The server's own ID
	// may appear (it is skipped), so all bootstraps can share one list.
	Peers []string

	// TURN configures the STUN/TURN server and TURN credentials.
	TURN TURNConfig

	// MetricsAddr is the TCP address of the HTTP server for /metrics
	// (Prometheus) and /healthz; "" disables it. parley-bootstrap defaults
	// it to DefaultMetricsAddr (loopback: metrics are for the operator).
	MetricsAddr string

	// Relay bounds the circuit relay service. Zero fields mean defaults.
	Relay RelayLimits

	// DHT bounds the DHT record store. Zero fields mean defaults.
	DHT DHTLimits

	// Now is the clock records and certificates are validated against.
	// Defaults to time.Now.
	Now func() time.Time

	// Logger receives the server's logs. Defaults to slog.Default().
	Logger *slog.Logger
}

// TURNConfig configures the built-in STUN/TURN server and the credentials
// the bootstrap issues.
type TURNConfig struct {
	// ListenAddr is the host:port STUN and TURN listen on, UDP and TCP.
	// Defaults to DefaultTURNListenAddr (":3478"). With port 0 the UDP port
	// is chosen by the kernel and TCP uses the same number.
	ListenAddr string

	// RelayIP is the public IP of this server, put in relayed candidates
	// and in the TURN URLs handed to nodes. Defaults to the listen IP when
	// it is a specific address, else the first global unicast IPv4 address
	// of the machine. Set it behind 1:1 NAT (cloud VMs).
	RelayIP string

	// Secret is the TURN REST shared secret (at least 16 bytes), the same
	// on every bootstrap and coturn that checks the credentials. Never
	// logged. If Secret and SecretFile are empty, the secret is read from
	// DataDir/turn.secret, which is generated (32 random bytes as hex) if
	// missing.
	Secret []byte

	// SecretFile is a file holding the secret (surrounding white space is
	// ignored). Used when Secret is empty.
	SecretFile string

	// URLs, when set, replace the STUN/TURN URLs handed to nodes with the
	// credentials (for example when coturn runs elsewhere). Defaults to
	// turn:RelayIP:port?transport=udp, turn:RelayIP:port?transport=tcp and
	// stun:RelayIP:port.
	URLs []string

	// CredentialTTL is the lifetime of issued TURN credentials. Defaults to
	// turncred.DefaultTTL (10 minutes).
	CredentialTTL time.Duration

	// CredentialRatePerMinute is how many credential requests a device may
	// make per minute. Defaults to turncred.DefaultRatePerMinute (10).
	CredentialRatePerMinute int

	// AllowPrivatePeers lets TURN clients relay to loopback and private
	// addresses. Off by default; tests and labs turn it on.
	AllowPrivatePeers bool

	// AllowCGNATPeers lets TURN clients relay to shared address space
	// 100.64.0.0/10 (carrier-grade NAT). Off by default: on a host in a
	// tailnet or some cloud networks that range is the operator's own.
	AllowCGNATPeers bool

	// AllowServerPeers lets TURN clients relay to this server's own
	// addresses. Off by default: only the ports of the server's own relay
	// sockets may be reached there (two clients of this server relaying
	// to each other).
	AllowServerPeers bool

	// UserQuota, IPQuota and TotalQuota bound the TURN allocations held at
	// once by one device, from one client address (IPv6: /64) and in
	// total (coturn's user-quota and total-quota). Defaults
	// turnsrv.DefaultUserQuota (32), DefaultIPQuota (128) and
	// DefaultTotalQuota (4096).
	UserQuota, IPQuota, TotalQuota int

	// CredentialCheckTTL is how long the issuer trusts what it learnt
	// from an account record (the device is not revoked) before it
	// fetches the record again. Defaults to
	// turncred.DefaultCheckTTL (5 minutes); a failed check is retried
	// sooner (turncred.NegativeCheckTTL).
	CredentialCheckTTL time.Duration

	// UDPSockets is how many UDP sockets share the TURN port (Linux,
	// SO_REUSEPORT), each served by its own goroutine: the relay's
	// parallelism. Default (0): one per four cores with the batched data
	// path, one per core with PionDataPath; at most 4 either way.
	UDPSockets int

	// PionDataPath makes pion relay every datagram instead of the batched
	// data path (Linux only; see package turnsrv). An escape hatch and a
	// baseline for the relay bench.
	PionDataPath bool

	// Disabled turns the built-in STUN/TURN server off (for example when
	// coturn runs on this machine with the same secret). Credentials are
	// still issued when a secret is available.
	Disabled bool
}

// RelayLimits bound the circuit relay v2 service. They are sized for
// signalling: a relayed connection carries call setup and contact messages
// between devices that cannot reach each other directly, while the media of
// calls goes over ICE and TURN. Zero fields mean the defaults below.
type RelayLimits struct {
	// MaxReservations is the number of devices that may hold a relay slot
	// at once. Default 512. A peer holds at most one reservation (libp2p
	// replaces it when the peer refreshes), so there is no per-peer limit.
	MaxReservations int
	// MaxReservationsPerIP bounds the reservations from one IP address.
	// Default 8.
	MaxReservationsPerIP int
	// MaxReservationsPerSubnet bounds the reservations from one IPv4 /24
	// or IPv6 /48, so that a few addresses of one network cannot hold the
	// relay's slots. Default 16: with MaxReservations 512, holding every
	// slot takes 32 such networks.
	MaxReservationsPerSubnet int
	// MaxReservationsPerASN bounds the reservations from one autonomous
	// system (IPv6 only: go-libp2p maps only IPv6 addresses to ASNs).
	// Default 32.
	MaxReservationsPerASN int
	// MaxCircuits is the number of relayed connections open at once for
	// one peer. Default 16.
	MaxCircuits int
	// ReservationTTL is how long a reservation lasts before the device
	// must refresh it. Default 1 hour.
	ReservationTTL time.Duration
	// CircuitDuration is how long one relayed connection may last before
	// the relay resets it. Default 2 minutes.
	CircuitDuration time.Duration
	// CircuitData is how many bytes one relayed connection may carry in
	// each direction before it is reset. Default 1 MiB.
	CircuitData int64
	// BufferSize is the relay's per-connection buffer in bytes.
	// Default 2048.
	BufferSize int
}

// DefaultRelayLimits returns the default relay limits.
func DefaultRelayLimits() RelayLimits {
	return RelayLimits{
		MaxReservations:          512,
		MaxReservationsPerIP:     8,
		MaxReservationsPerSubnet: 16,
		MaxReservationsPerASN:    32,
		MaxCircuits:              16,
		ReservationTTL:           time.Hour,
		CircuitDuration:          2 * time.Minute,
		CircuitData:              1 << 20,
		BufferSize:               2048,
	}
}

// withDefaults fills the zero fields of l.
func (l RelayLimits) withDefaults() (RelayLimits, error) {
	d := DefaultRelayLimits()
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&l.MaxReservations, d.MaxReservations)
	setInt(&l.MaxReservationsPerIP, d.MaxReservationsPerIP)
	setInt(&l.MaxReservationsPerSubnet, d.MaxReservationsPerSubnet)
	setInt(&l.MaxReservationsPerASN, d.MaxReservationsPerASN)
	setInt(&l.MaxCircuits, d.MaxCircuits)
	setInt(&l.BufferSize, d.BufferSize)
	if l.ReservationTTL == 0 {
		l.ReservationTTL = d.ReservationTTL
	}
	if l.CircuitDuration == 0 {
		l.CircuitDuration = d.CircuitDuration
	}
	if l.CircuitData == 0 {
		l.CircuitData = d.CircuitData
	}
	if l.MaxReservations < 0 || l.MaxReservationsPerIP < 0 || l.MaxReservationsPerSubnet < 0 ||
		l.MaxReservationsPerASN < 0 || l.MaxCircuits < 0 || l.BufferSize < 0 ||
		l.ReservationTTL < 0 || l.CircuitDuration < 0 || l.CircuitData < 0 {
		return l, fmt.Errorf("%w: negative relay limit", ErrConfig)
	}
	return l, nil
}

// resources converts the limits to the relay's resources.
func (l RelayLimits) resources() relayv2.Resources {
	return relayv2.Resources{
		Limit:                 &relayv2.RelayLimit{Duration: l.CircuitDuration, Data: l.CircuitData},
		ReservationTTL:        l.ReservationTTL,
		MaxReservations:       l.MaxReservations,
		MaxCircuits:           l.MaxCircuits,
		BufferSize:            l.BufferSize,
		MaxReservationsPerIP:  l.MaxReservationsPerIP,
		MaxReservationsPerASN: l.MaxReservationsPerASN,
	}
}

// DHTLimits bound the DHT record store (package internal/dhtstore): what
// one peer, the peers of one IP address (IPv6: one /64) and everyone
// together may have stored. A record over a peer's or an address's cap
// evicts that sender's oldest record; a record over the totals evicts the
// oldest record of an account with no live presence, else the oldest
// record. docs/bootstrap.md explains the defaults. Zero fields mean the
// defaults below.
type DHTLimits struct {
	// MaxRecords is the number of records kept. Default 100,000: about
	// 30,000 online accounts of two devices.
	MaxRecords int
	// MaxBytes bounds the bytes of all records. Default 128 MiB.
	MaxBytes int64
	// MaxRecordsPerPeer bounds the records one peer stored. Default 32.
	MaxRecordsPerPeer int
	// MaxBytesPerPeer bounds the bytes one peer stored. Default 512 KiB.
	MaxBytesPerPeer int64
	// MaxRecordsPerIP bounds the records the peers of one address
	// stored. Default 1024.
	MaxRecordsPerIP int
	// MaxBytesPerIP bounds the bytes the peers of one address stored.
	// Default 4 MiB.
	MaxBytesPerIP int64
}

// DefaultDHTLimits returns the default DHT record store limits.
func DefaultDHTLimits() DHTLimits { return DHTLimits(dhtstore.BootstrapLimits()) }

// withDefaults fills the zero fields of l.
func (l DHTLimits) withDefaults() (DHTLimits, error) {
	d := DefaultDHTLimits()
	for _, f := range []struct{ v, def *int64 }{{&l.MaxBytes, &d.MaxBytes}, {&l.MaxBytesPerPeer, &d.MaxBytesPerPeer}, {&l.MaxBytesPerIP, &d.MaxBytesPerIP}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *int }{{&l.MaxRecords, &d.MaxRecords}, {&l.MaxRecordsPerPeer, &d.MaxRecordsPerPeer}, {&l.MaxRecordsPerIP, &d.MaxRecordsPerIP}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if err := dhtstore.Limits(l).Check(); err != nil {
		return l, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return l, nil
}

// settings is a validated Config with its defaults applied.
type settings struct {
	Config
	listen   []ma.Multiaddr
	announce []ma.Multiaddr
	peers    []peer.AddrInfo
}

// validate checks cfg and applies defaults.
func (cfg Config) validate() (*settings, error) {
	s := &settings{Config: cfg}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is required", ErrConfig)
	}
	if len(s.ListenAddrs) == 0 {
		s.ListenAddrs = DefaultListenAddrs
	}
	var err error
	if s.listen, err = parseAddrs("listen", s.ListenAddrs); err != nil {
		return nil, err
	}
	if s.announce, err = parseAddrs("announce", s.AnnounceAddrs); err != nil {
		return nil, err
	}
	for _, p := range s.Peers {
		ai, err := peer.AddrInfoFromString(p)
		if err != nil {
			return nil, fmt.Errorf("%w: peer %q: %w (want a multiaddr ending in /p2p/ID)", ErrConfig, p, err)
		}
		s.peers = mergePeer(s.peers, *ai)
	}
	if s.TURN.ListenAddr == "" {
		s.TURN.ListenAddr = DefaultTURNListenAddr
	}
	if _, _, err := net.SplitHostPort(s.TURN.ListenAddr); err != nil {
		return nil, fmt.Errorf("%w: TURN listen address: %w", ErrConfig, err)
	}
	if s.TURN.RelayIP != "" && net.ParseIP(s.TURN.RelayIP) == nil {
		return nil, fmt.Errorf("%w: TURN relay IP %q is not an IP address", ErrConfig, s.TURN.RelayIP)
	}
	if s.TURN.UDPSockets < 0 || s.TURN.UDPSockets > maxTURNUDPSockets {
		return nil, fmt.Errorf("%w: TURN UDP sockets %d: want 0 (the default) to %d", ErrConfig, s.TURN.UDPSockets, maxTURNUDPSockets)
	}
	if s.TURN.CredentialTTL < 0 || s.TURN.CredentialRatePerMinute < 0 || s.TURN.CredentialCheckTTL < 0 {
		return nil, fmt.Errorf("%w: negative TURN credential TTL or rate", ErrConfig)
	}
	if s.TURN.UserQuota < 0 || s.TURN.IPQuota < 0 || s.TURN.TotalQuota < 0 {
		return nil, fmt.Errorf("%w: negative TURN quota", ErrConfig)
	}
	if s.Relay, err = s.Relay.withDefaults(); err != nil {
		return nil, err
	}
	if s.DHT, err = s.DHT.withDefaults(); err != nil {
		return nil, err
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	return s, nil
}

func parseAddrs(what string, in []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(in))
	for _, s := range in {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s address %q: %w", ErrConfig, what, s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// mergePeer adds ai to list, merging the addresses of a repeated peer.
func mergePeer(list []peer.AddrInfo, ai peer.AddrInfo) []peer.AddrInfo {
	for i := range list {
		if list[i].ID == ai.ID {
			list[i].Addrs = append(list[i].Addrs, ai.Addrs...)
			return list
		}
	}
	return append(list, ai)
}
