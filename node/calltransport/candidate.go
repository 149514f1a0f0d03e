package calltransport

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/ice/v4"
)

// parseRemoteCandidate turns a trickled candidate string into a pion
// candidate, applying the rules of [Leg.AddRemoteCandidate]. It is the
// whole untrusted-input path before pion, and the fuzz target.
func parseRemoteCandidate(s string) (ice.Candidate, error) {
	if len(s) > MaxCandidateLen {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCandidate, len(s), MaxCandidateLen)
	}
	s = strings.TrimPrefix(s, "a=")
	c, err := ice.UnmarshalCandidate(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	if c.Component() != ice.ComponentRTP {
		return nil, fmt.Errorf("%w: component %d (RTP and RTCP share component 1)", ErrBadCandidate, c.Component())
	}
	if !c.NetworkType().IsUDP() {
		return nil, fmt.Errorf("%w: network %s (only UDP candidates are used)", ErrBadCandidate, c.NetworkType())
	}
	addr, err := netip.ParseAddr(c.Address())
	if err != nil {
		// Hostnames, including mDNS ".local" names: mDNS is off, and a
		// name would make this leg resolve what the peer chose.
		return nil, fmt.Errorf("%w: address %q is not an IP address", ErrBadCandidate, c.Address())
	}
	if addr.IsUnspecified() || addr.IsMulticast() || addr.Zone() != "" {
		return nil, fmt.Errorf("%w: address %s is not a unicast address", ErrBadCandidate, addr)
	}
	if c.Port() <= 0 || c.Port() > 65535 {
		return nil, fmt.Errorf("%w: port %d", ErrBadCandidate, c.Port())
	}
	switch c.Type() {
	case ice.CandidateTypeHost, ice.CandidateTypeServerReflexive, ice.CandidateTypePeerReflexive, ice.CandidateTypeRelay:
	default:
		return nil, fmt.Errorf("%w: type %s", ErrBadCandidate, c.Type())
	}
	return c, nil
}

// AddRemoteCandidate adds a candidate the peer trickled, in the form
// [Leg.OnCandidate] produces (RFC 8839 candidate-attribute, with or without
// the "candidate:" or "a=candidate:" prefix). The empty string marks the
// end of the peer's candidates and is accepted as a no-op.
//
// Candidates are untrusted: a string longer than [MaxCandidateLen], one
// that does not parse, one for another component than 1, a TCP candidate, a
// hostname or mDNS name instead of an IP address, and an unspecified or
// multicast address are refused with [ErrBadCandidate]; after
// [MaxRemoteCandidates] accepted candidates, [ErrTooManyCandidates]. A
// refused candidate leaves the leg as it was.
func (l *Leg) AddRemoteCandidate(s string) error {
	if s == "" {
		return nil
	}
	c, err := parseRemoteCandidate(s)
	if err != nil {
		return fmt.Errorf("calltransport: add remote candidate: %w", err)
	}
	l.mu.Lock()
	switch {
	case l.isClosed():
		l.mu.Unlock()
		return fmt.Errorf("calltransport: add remote candidate: %w", ErrClosed)
	case l.remotes >= l.maxRemotes:
		l.mu.Unlock()
		return fmt.Errorf("calltransport: add remote candidate: %w", ErrTooManyCandidates)
	}
	l.remotes++
	if c.Type() == ice.CandidateTypeRelay {
		if l.remoteRelays == nil {
			l.remoteRelays = map[string]bool{}
		}
		l.remoteRelays[net.JoinHostPort(c.Address(), strconv.Itoa(c.Port()))] = true
	}
	l.mu.Unlock()
	if err := l.agent.AddRemoteCandidate(c); err != nil {
		return fmt.Errorf("calltransport: add remote candidate: %w", err)
	}
	return nil
}
