package natlab

import (
	"fmt"
	"strings"
)

// Kind is how a site reaches the internet.
type Kind int

// The NAT kinds a site can have. See the package doc for the exact rules.
const (
	// None: the host has a public address; its router forwards without NAT
	// or filtering.
	None Kind = iota
	// Cone: MASQUERADE, endpoint-independent mapping, port-restricted
	// filtering.
	Cone
	// Symmetric: MASQUERADE --random-fully, a new public port per
	// destination.
	Symmetric
	// UDPBlocked: cone, and every UDP packet is dropped; only TCP leaves.
	UDPBlocked
	// TCP443: cone, and nothing leaves but TCP to port 443 (no UDP, no
	// DNS, no TCP to other ports): a corporate or hotel network.
	TCP443
)

// Kinds lists every kind, in table order.
var Kinds = []Kind{None, Cone, Symmetric, UDPBlocked, TCP443}

var kindNames = [...]string{None: "none", Cone: "cone", Symmetric: "symmetric", UDPBlocked: "udp-blocked", TCP443: "tcp443"}

// String returns the kind's name as ParseKind accepts it.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// ParseKind parses "none", "cone", "symmetric", "udp-blocked" or "tcp443".
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if strings.EqualFold(s, n) {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want none, cone, symmetric, udp-blocked or tcp443)", ErrBadKind, s)
}

// NATed reports whether the site's host sits behind address translation.
func (k Kind) NATed() bool { return k != None }

// Expectation is the path ICE should end on between two sites, by theory.
type Expectation struct {
	// Direct is true when a direct UDP path exists, so the call must end
	// on it; false when it needs a TURN relay.
	Direct bool
	// TCPRelay is true when a side can only reach TURN over TCP (or over a
	// TURN stream on TCP 443).
	TCPRelay bool
}

// Expect returns what theory says about a call between sites of kinds a and
// b (either direction):
//
//   - any udp-blocked or tcp443 side: relay, and that side reaches TURN
//     over TCP (a tcp443 side over a libp2p stream to the bootstrap's port
//     443, internal/turnstream);
//   - none with anything that has UDP: direct (the public host answers
//     whatever mapping the other side's NAT picks);
//   - cone with cone: direct (both mappings are endpoint-independent, so the
//     server-reflexive candidates are the ones the peer must use);
//   - cone or symmetric with symmetric: relay (the symmetric side's mapping
//     towards the peer is one the peer never learns, and the cone side's
//     filter drops the symmetric side's new port; with both symmetric
//     neither side can guess).
func Expect(a, b Kind) Expectation {
	switch {
	case a == UDPBlocked || b == UDPBlocked || a == TCP443 || b == TCP443:
		return Expectation{TCPRelay: true}
	case a == None || b == None:
		return Expectation{Direct: true}
	case a == Cone && b == Cone:
		return Expectation{Direct: true}
	}
	return Expectation{}
}

// String is "direct" or "relay" ("relay (tcp)" with a TCP side).
func (e Expectation) String() string {
	switch {
	case e.Direct:
		return "direct"
	case e.TCPRelay:
		return "relay (tcp)"
	}
	return "relay"
}
