package turnsrv

import (
	"fmt"
	"log/slog"
	"net"
	"time"
)

// DefaultRealm is the realm used when [Config.Realm] is empty.
const DefaultRealm = "parley"

// Config configures a [Server]. Zero values mean "use the default" where a
// default is stated. After a Config is passed to [New] the server keeps
// its own copy of the secret and of the socket lists.
type Config struct {
	// Realm is the TURN realm (long-term credential mechanism). Defaults
	// to DefaultRealm, "parley". coturn's realm must match if it is used
	// instead.
	Realm string

	// Secret is the TURN REST shared secret (coturn's static-auth-secret).
	// Required, at least MinSecretLen bytes. Never logged.
	Secret []byte

	// RelayIP is the address put in relayed candidates
	// (XOR-RELAYED-ADDRESS): the server's public address. Required.
	RelayIP net.IP

	// RelayBindAddr is the local address relay sockets bind to. Defaults
	// to RelayIP when that is an address of this machine, so that relayed
	// datagrams leave from the address the peer was given, also on hosts
	// with several addresses; else (RelayIP is a 1:1 NAT's public address)
	// "0.0.0.0", or "::" when RelayIP is IPv6.
	RelayBindAddr string

	// PacketConns are the UDP sockets to serve STUN and TURN on. The
	// caller creates them; the server owns them from a successful New on
	// and closes them in Close.
	PacketConns []net.PacketConn

	// Listeners are the TCP listeners to serve STUN and TURN on (TURN
	// over a TCP transport; relays are still UDP). Ownership as for
	// PacketConns; the server also closes the connections it accepted.
	Listeners []net.Listener

	// AllowPrivatePeers lets clients relay to loopback, private,
	// link-local and other non-public peers (see the package
	// documentation). Defaults to false, which keeps the relay from being
	// an open door into the operator's network. Tests and labs set it.
	AllowPrivatePeers bool

	// AllowCGNATPeers lets clients relay to shared address space
	// 100.64.0.0/10 (carrier-grade NAT, RFC 6598), which AllowPrivatePeers
	// also allows. Defaults to false: on hosts in a tailnet or some cloud
	// networks that range is the operator's own network.
	AllowCGNATPeers bool

	// AllowServerPeers lets clients relay to this server's own addresses
	// (ServerAddrs, the relay, bind and socket addresses, and every
	// address of the machine's interfaces), which AllowPrivatePeers also
	// allows. Defaults to false: only the ports of the server's live relay
	// sockets may be reached there, so two clients of this server can
	// relay to each other, but nothing else listening on the server can.
	AllowServerPeers bool

	// ServerAddrs are more addresses of this server, refused as peers like
	// those found on its interfaces: public addresses it is reached at
	// through a NAT, for example.
	ServerAddrs []net.IP

	// Tokens, if not nil, maps the tokens of opaque usernames to devices
	// (the credential issuer fills it): allocations are counted per
	// device, and a token it marks revoked is refused. A username whose
	// token it does not hold (issued before a restart, or by an issuer
	// sharing the secret) is its own quota user.
	Tokens *Tokens

	// Quota bounds the allocations held at once, per device, per client
	// address and in total. Zero fields mean the defaults (see Quota).
	Quota Quota

	// Now is the clock credential expiry is checked against. Defaults to
	// time.Now.
	Now func() time.Time

	// Logger receives the server's and pion's logs. Defaults to
	// slog.Default().
	Logger *slog.Logger

	// Metrics, if not nil, receives the server's counters.
	Metrics *Metrics

	// PionDataPath turns the batched data path off (see the package
	// documentation): pion relays every datagram, as on platforms other
	// than Linux. For comparisons and as an escape hatch.
	PionDataPath bool

	// Lifetimes of permissions and channel bindings; zero means pion's
	// defaults. Tests shorten them to watch expiry.
	permissionTimeout, channelBindTimeout time.Duration

	// loopbackPublic judges loopback peers as public addresses, so that
	// tests on 127.0.0.1 see the server-address rules apply.
	loopbackPublic bool
}

// validate checks the required fields and returns a copy with defaults
// filled in.
func (c Config) validate() (Config, error) {
	if len(c.Secret) < MinSecretLen {
		return c, fmt.Errorf("%w: need at least %d bytes", ErrSecretTooShort, MinSecretLen)
	}
	if !usableRelayIP(c.RelayIP) {
		return c, ErrNoRelayIP
	}
	if len(c.PacketConns) == 0 && len(c.Listeners) == 0 {
		return c, ErrNoSockets
	}
	for i, pc := range c.PacketConns {
		if pc == nil {
			return c, fmt.Errorf("%w: PacketConns[%d]", ErrNilSocket, i)
		}
	}
	for i, l := range c.Listeners {
		if l == nil {
			return c, fmt.Errorf("%w: Listeners[%d]", ErrNilSocket, i)
		}
	}
	var err error
	if c.Quota, err = c.Quota.withDefaults(); err != nil {
		return c, err
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.RelayBindAddr == "" {
		switch {
		case isLocalIP(c.RelayIP):
			c.RelayBindAddr = c.RelayIP.String()
		case c.RelayIP.To4() != nil:
			c.RelayBindAddr = "0.0.0.0"
		default:
			c.RelayBindAddr = "::"
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = new(Metrics)
	}
	return c, nil
}

func usableRelayIP(ip net.IP) bool {
	if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
		return false
	}
	return !ip.IsUnspecified() && !ip.IsMulticast()
}

// isLocalIP reports whether ip is assigned to an interface of this machine.
func isLocalIP(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
