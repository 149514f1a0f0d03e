package bootstrap

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/parleyhq/parley/bootstrap/turncred"
	"github.com/parleyhq/parley/bootstrap/turnsrv"
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
	if cfg.TURN.Disabled {
		s.turnURLs = cfg.TURN.URLs
		return nil
	}
	pc, ln, err := listenTURN(cfg.TURN.ListenAddr)
	if err != nil {
		return err
	}
	udpAddr := pc.LocalAddr().(*net.UDPAddr)
	relayIP, err := pickRelayIP(cfg.TURN.RelayIP, udpAddr.IP)
	if err != nil {
		pc.Close()
		ln.Close()
		return err
	}
	s.turn, err = turnsrv.New(turnsrv.Config{
		Secret:            secret,
		RelayIP:           relayIP,
		PacketConns:       []net.PacketConn{pc},
		Listeners:         []net.Listener{ln},
		AllowPrivatePeers: cfg.TURN.AllowPrivatePeers,
		Now:               cfg.Now,
		Logger:            s.log.With("component", "turn"),
		Metrics:           &s.turnMetrics,
	})
	if err != nil {
		pc.Close()
		ln.Close()
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

// listenTURN opens the UDP socket and a TCP listener on the same port.
// With port 0 it retries a few times in case the kernel's UDP port is taken
// for TCP.
func listenTURN(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	var lastErr error
	for range 5 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("TURN: listen UDP %s: %w", addr, err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("TURN: listen TCP %s: %w", addr, lastErr)
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
		Now:           cfg.Now,
		Logger:        s.log.With("component", "turn-cred"),
		Metrics:       &s.credMetrics,
	}
	if err := is.Check(); err != nil {
		return nil, errors.Join(ErrConfig, err)
	}
	return is, nil
}
