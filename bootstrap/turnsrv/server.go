package turnsrv

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/turncred"
	"github.com/pion/turn/v5"
)

// Server is a STUN and TURN server. Create it with [New]; it serves until
// [Server.Close].
type Server struct {
	turn    *turn.Server
	fast    *fastPath // nil without the batched data path
	conns   *connSet
	secret  sharedSecret
	realm   string
	now     func() time.Time
	log     *slog.Logger
	metrics *Metrics
	policy  *peerPolicy
	quotas  *quotas
	tokens  *Tokens // nil: the username's subject is the quota user

	closeOnce sync.Once
	closeErr  error // set once by Close
}

// New starts a server on the sockets in c. If New returns an error the
// sockets are left open and still belong to the caller.
func New(c Config) (*Server, error) {
	c, err := c.validate()
	if err != nil {
		return nil, fmt.Errorf("turnsrv: new: %w", err)
	}
	s := &Server{
		conns:   newConnSet(),
		secret:  newSharedSecret(c.Secret),
		realm:   c.Realm,
		now:     c.Now,
		log:     c.Logger,
		metrics: c.Metrics,
		policy:  newPeerPolicy(c),
		quotas:  newQuotas(c.Quota, c.Now),
		tokens:  c.Tokens,
	}
	sc := turn.ServerConfig{
		Realm:              c.Realm,
		LoggerFactory:      slogFactory{l: c.Logger},
		AuthHandler:        s.authenticate,
		QuotaHandler:       s.admit,
		ChannelBindTimeout: c.channelBindTimeout,
		PermissionTimeout:  c.permissionTimeout,
		EventHandler: turn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
		},
	}
	if !c.PionDataPath {
		s.fast = newFastPath(c.Logger, c.Metrics, s.policy)
	}
	if s.fast != nil {
		sc.EventHandler.OnPermissionCreated = func(src, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.fast.permissionCreated(src, relay, peer)
		}
		sc.EventHandler.OnPermissionDeleted = func(src, _ net.Addr, _, _, _ string, relay net.Addr, peer net.IP) {
			s.fast.permissionDeleted(src, relay, peer)
		}
		sc.EventHandler.OnChannelCreated = func(src, _ net.Addr, _, _, _ string, relay, peer net.Addr, num uint16) {
			s.fast.channelCreated(src, relay, peer, num)
		}
		sc.EventHandler.OnChannelDeleted = func(src, _ net.Addr, _, _, _ string, relay, peer net.Addr, num uint16) {
			s.fast.channelDeleted(src, relay, peer, num)
		}
	}
	var adopted []net.PacketConn // handed to the data path: closed once the server runs
	for _, pc := range c.PacketConns {
		pcc := turn.PacketConnConfig{
			PacketConn:            pc,
			RelayAddressGenerator: s.guard(newUDPRelay(c)),
			PermissionHandler:     s.permit,
		}
		if s.fast != nil {
			conn, gen, ok, err := s.fast.adopt(pc, c)
			if err != nil {
				s.fast.stop()
				return nil, fmt.Errorf("turnsrv: new: %w", err)
			}
			if ok {
				pcc.PacketConn, pcc.RelayAddressGenerator = conn, s.guard(gen)
				adopted = append(adopted, pc)
			}
		}
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, pcc)
	}
	for _, l := range c.Listeners {
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
			Listener:              &trackingListener{Listener: l, set: s.conns},
			RelayAddressGenerator: s.guard(newUDPRelay(c)),
			PermissionHandler:     s.permit,
		})
	}
	s.turn, err = turn.NewServer(sc)
	if err != nil {
		if s.fast != nil {
			s.fast.stop()
		}
		return nil, fmt.Errorf("turnsrv: new: %w", err)
	}
	// The data path holds duplicates of the adopted sockets; closing the
	// originals takes them out of Go's poller, which would otherwise be
	// woken by every datagram for nothing.
	for _, pc := range adopted {
		_ = pc.Close()
	}
	return s, nil
}

// guard wraps a relay address generator in the peer policy.
func (s *Server) guard(g turn.RelayAddressGenerator) turn.RelayAddressGenerator {
	return guardedGen{RelayAddressGenerator: g, policy: s.policy, metrics: s.metrics}
}

func newUDPRelay(c Config) turn.RelayAddressGenerator {
	return udpRelay{&turn.RelayAddressGeneratorStatic{
		RelayAddress: slices.Clone(c.RelayIP),
		Address:      c.RelayBindAddr,
	}}
}

// udpRelay hands out UDP relay sockets only. pion would also serve RFC 6062
// TCP allocations, which Parley does not need (media is UDP, whatever the
// transport to the server) and which would let any client open TCP
// connections to any public host through the bootstrap. Refusing them here
// makes pion answer 508 Insufficient Capacity.
type udpRelay struct {
	*turn.RelayAddressGeneratorStatic
}

// relaySocketBuffer is the receive and send buffer asked for on each relay
// socket, in bytes. The kernel caps it at net.core.rmem_max/wmem_max.
const relaySocketBuffer = 256 << 10

// AllocatePacketConn implements turn.RelayAddressGenerator: a relay socket
// as pion's static generator makes it, with larger buffers. Media arrives
// in bursts, and with the default buffers (about 208 KiB) the relay lost
// packets under load in the relay bench (test/bench relay) where coturn,
// which also enlarges its buffers, lost none.
func (r udpRelay) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	pc, addr, err := r.RelayAddressGeneratorStatic.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	if c, ok := pc.(*net.UDPConn); ok {
		// Best effort: the kernel caps the sizes, and a smaller buffer
		// only means more loss under bursts.
		_ = c.SetReadBuffer(relaySocketBuffer)
		_ = c.SetWriteBuffer(relaySocketBuffer)
	}
	return pc, addr, nil
}

// AllocateListener implements turn.RelayAddressGenerator by refusing.
func (udpRelay) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, fmt.Errorf("turnsrv: allocate: %w", ErrTCPRelayRefused)
}

// AllocateConn implements turn.RelayAddressGenerator by refusing.
func (udpRelay) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, fmt.Errorf("turnsrv: allocate: %w", ErrTCPRelayRefused)
}

// Close stops the server: it closes the sockets it was given and the TCP
// connections it accepted, which ends pion's read loops and, shortly after,
// every allocation and its relay socket. Close is safe to call more than
// once; later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := errors.Join(s.turn.Close(), s.conns.closeAll())
		if err != nil {
			s.closeErr = fmt.Errorf("turnsrv: close: %w", err)
		}
	})
	return s.closeErr
}

// AllocationCount returns the number of active allocations.
func (s *Server) AllocationCount() int {
	return s.turn.AllocationCount()
}

// authenticate is pion's AuthHandler. It never sees a password: it derives
// the one the client must know from the secret, and pion checks the
// request's MESSAGE-INTEGRITY against the resulting key in constant time
// (hmac.Equal in pion/stun). A wrong password is reported to onAuth.
func (s *Server) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	expiry, subject, err := turncred.ParseUsername(ra.Username)
	switch {
	case err != nil:
		// Log only the length of an unparsable username: it is untrusted.
		s.refuseAuth(ra, err, "username_len", len(ra.Username))
		return "", nil, false
	case ra.Realm != s.realm:
		s.refuseAuth(ra, ErrRealmMismatch, "username", ra.Username)
		return "", nil, false
	case s.now().Unix() >= expiry.Unix():
		s.refuseAuth(ra, ErrCredentialExpired, "username", ra.Username)
		return "", nil, false
	}
	// The quota user: the device the token was issued to, else the
	// username's subject itself.
	userID = subject
	if s.tokens != nil {
		dev, known, revoked := s.tokens.Lookup(subject)
		if revoked {
			s.refuseAuth(ra, ErrCredentialRevoked, "username", ra.Username)
			return "", nil, false
		}
		if known {
			userID = dev
		}
	}
	return userID, turn.GenerateAuthKey(ra.Username, s.realm, s.secret.password(ra.Username)), true
}

func (s *Server) refuseAuth(ra *turn.RequestAttributes, reason error, attrs ...any) {
	s.metrics.AuthFail.Add(1)
	s.log.Debug("turn auth refused",
		append([]any{"src", ra.SrcAddr, "method", ra.Method.String(), "reason", reason}, attrs...)...)
}

// onAuth is told whether a request whose username authenticate accepted
// carried the right MESSAGE-INTEGRITY.
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	if verdict {
		s.metrics.AuthOK.Add(1)
		return
	}
	s.metrics.AuthFail.Add(1)
	s.log.Debug("turn auth refused", "src", src, "method", method,
		"reason", "message integrity mismatch", "username", username)
}

// admit is pion's QuotaHandler, asked before every new allocation.
func (s *Server) admit(userID, _ string, src net.Addr) bool {
	ok, why := s.quotas.admit(userID, src)
	if !ok {
		s.metrics.QuotaRefused.Add(1)
		s.log.Debug("turn allocation refused", "src", src, "device", userID, "reason", why)
	}
	return ok
}

func (s *Server) onAllocationDeleted(src, _ net.Addr, _, userID, _ string) {
	s.quotas.deleted(userID, src)
}

func (s *Server) onAllocationCreated(src, _ net.Addr, protocol, userID, _ string, relay net.Addr, _ int) {
	s.quotas.created(userID, src)
	if s.fast != nil {
		s.fast.allocationCreated(src, relay)
	}
	s.metrics.Allocations.Add(1)
	s.log.Debug("turn allocation created", "src", src, "transport", protocol, "device", userID, "relay", relay)
}

// permit is pion's PermissionHandler, consulted for every peer address in
// CreatePermission and ChannelBind requests (and Connect, were TCP relays
// ever allowed).
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	addr, ok := netip.AddrFromSlice(peer)
	why := "invalid"
	if ok {
		var v verdict
		if v, why = s.policy.judge(canonical(addr)); v != peerRefused {
			// peerRelayOnly: permissions are per IP address; the relay
			// sockets check each datagram's port.
			return true
		}
	}
	s.metrics.PeerRefused.Add(1)
	s.log.Debug("turn peer refused", "client", client, "peer", peer, "reason", why)
	return false
}
