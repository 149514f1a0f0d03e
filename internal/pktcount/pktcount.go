// Package pktcount counts the UDP datagrams an ICE agent sends and
// receives, by kind, on real sockets: a [transport.Net] that wraps another
// (normally pion's stdnet) and looks at the first bytes of each datagram
// its UDP sockets carry. The bench (`go run ./test/bench keepalive`) and
// the keepalive-budget test of node/calltransport use it; it is not on
// any production path.
package pktcount

import (
	"encoding/binary"
	"net"
	"sync/atomic"

	"github.com/pion/transport/v5"
)

// Kind is what a datagram carries.
type Kind int

// The kinds of datagram, in table order.
const (
	// STUNBindingRequest and STUNBindingResponse are ICE checks and
	// consent checks and their answers (success or error) sent directly.
	STUNBindingRequest Kind = iota
	STUNBindingResponse
	// SRTP and SRTCP are media and its reports sent directly.
	SRTP
	SRTCP
	// ChannelSTUN, ChannelSRTP and ChannelSRTCP are TURN ChannelData
	// messages (to or from the TURN server) and what they carry.
	ChannelSTUN
	ChannelSRTP
	ChannelSRTCP
	// ChannelOther is ChannelData carrying anything else.
	ChannelOther
	// TURNIndication is a TURN Send or Data indication (a relayed packet
	// before the channel is bound).
	TURNIndication
	// TURNControl is the rest of STUN/TURN: allocate, refresh,
	// permissions, channel binds, binding requests to the STUN server.
	TURNControl
	// Other is anything else.
	Other
	numKinds
)

// Kinds lists every kind in table order.
var Kinds = func() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}()

func (k Kind) String() string {
	switch k {
	case STUNBindingRequest:
		return "STUN binding request"
	case STUNBindingResponse:
		return "STUN binding response"
	case SRTP:
		return "SRTP"
	case SRTCP:
		return "SRTCP"
	case ChannelSTUN:
		return "TURN ChannelData: STUN"
	case ChannelSRTP:
		return "TURN ChannelData: SRTP"
	case ChannelSRTCP:
		return "TURN ChannelData: SRTCP"
	case ChannelOther:
		return "TURN ChannelData: other"
	case TURNIndication:
		return "TURN Send/Data indication"
	case TURNControl:
		return "TURN/STUN control"
	case Other:
		return "other"
	}
	return "unknown"
}

// Media reports whether k is media (SRTP or SRTCP, direct or relayed).
func (k Kind) Media() bool {
	switch k {
	case SRTP, SRTCP, ChannelSRTP, ChannelSRTCP:
		return true
	}
	return false
}

// TURN reports whether k goes to or comes from a TURN server.
func (k Kind) TURN() bool {
	switch k {
	case ChannelSTUN, ChannelSRTP, ChannelSRTCP, ChannelOther, TURNIndication, TURNControl:
		return true
	}
	return false
}

const stunMagic = 0x2112A442

// STUN methods (RFC 8489, RFC 8656).
const (
	methodBinding = 0x001
	methodSend    = 0x006
	methodData    = 0x007
)

// isSTUN reports whether b looks like a STUN message, and its method and
// class (0 request, 1 indication, 2 success, 3 error).
func isSTUN(b []byte) (method uint16, class int, ok bool) {
	if len(b) < 20 || b[0]&0xC0 != 0 || binary.BigEndian.Uint32(b[4:8]) != stunMagic {
		return 0, 0, false
	}
	t := binary.BigEndian.Uint16(b[0:2])
	method = t&0x000F | (t&0x00E0)>>1 | (t&0x3E00)>>2
	class = int((t>>4)&1 | (t>>7)&2)
	return method, class, true
}

// media classifies an RTP or RTCP datagram (RFC 5761, 7983), or returns
// false.
func media(b []byte) (rtcp, ok bool) {
	if len(b) < 2 || b[0] < 128 || b[0] > 191 {
		return false, false
	}
	return b[1] >= 192 && b[1] <= 223, true
}

// Classify returns the kind of one datagram. It reads only b's first bytes
// and accepts any input.
func Classify(b []byte) Kind {
	if method, class, ok := isSTUN(b); ok {
		switch {
		case method == methodBinding && class == 0:
			return STUNBindingRequest
		case method == methodBinding && class >= 2:
			return STUNBindingResponse
		case (method == methodSend || method == methodData) && class == 1:
			return TURNIndication
		}
		return TURNControl
	}
	if len(b) >= 4 && b[0] >= 0x40 && b[0] <= 0x7F { // ChannelData (RFC 8656 12.4)
		inner := b[4:]
		if n := int(binary.BigEndian.Uint16(b[2:4])); n < len(inner) {
			inner = inner[:n]
		}
		if _, _, ok := isSTUN(inner); ok {
			return ChannelSTUN
		}
		if rtcp, ok := media(inner); ok {
			if rtcp {
				return ChannelSRTCP
			}
			return ChannelSRTP
		}
		return ChannelOther
	}
	if rtcp, ok := media(b); ok {
		if rtcp {
			return SRTCP
		}
		return SRTP
	}
	return Other
}

// Counts are datagrams by kind, sent and received.
type Counts struct {
	Sent, Received [numKinds]uint64
}

// Sub returns c - o.
func (c Counts) Sub(o Counts) Counts {
	for k := range numKinds {
		c.Sent[k] -= o.Sent[k]
		c.Received[k] -= o.Received[k]
	}
	return c
}

// Sum adds up the sent and received datagrams whose kind keep accepts.
func (c Counts) Sum(keep func(Kind) bool) (sent, received uint64) {
	for k := range numKinds {
		if keep(k) {
			sent += c.Sent[k]
			received += c.Received[k]
		}
	}
	return sent, received
}

// Net is a [transport.Net] that counts the datagrams of the UDP sockets it
// opens. Its methods are safe for concurrent use.
type Net struct {
	transport.Net
	sent, received [numKinds]atomic.Uint64
}

// New wraps inner.
func New(inner transport.Net) *Net { return &Net{Net: inner} }

// Counts returns the counts so far.
func (n *Net) Counts() Counts {
	var c Counts
	for k := range numKinds {
		c.Sent[k] = n.sent[k].Load()
		c.Received[k] = n.received[k].Load()
	}
	return c
}

func (n *Net) countSent(b []byte, err error) {
	if err == nil {
		n.sent[Classify(b)].Add(1)
	}
}

func (n *Net) countReceived(b []byte, err error) {
	if err == nil {
		n.received[Classify(b)].Add(1)
	}
}

// ListenPacket opens a socket; UDP ones are counted.
func (n *Net) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return &packetConn{PacketConn: pc, n: n}, nil
}

// ListenUDP opens a counted UDP socket.
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &udpConn{UDPConn: c, n: n}, nil
}

// DialUDP opens a counted connected UDP socket.
func (n *Net) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.DialUDP(network, laddr, raddr)
	if err != nil {
		return nil, err
	}
	return &udpConn{UDPConn: c, n: n}, nil
}

type packetConn struct {
	net.PacketConn
	n *Net
}

func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	m, a, err := c.PacketConn.ReadFrom(b)
	c.n.countReceived(b[:max(m, 0)], err)
	return m, a, err
}

func (c *packetConn) WriteTo(b []byte, a net.Addr) (int, error) {
	m, err := c.PacketConn.WriteTo(b, a)
	c.n.countSent(b, err)
	return m, err
}

type udpConn struct {
	transport.UDPConn
	n *Net
}

func (c *udpConn) Read(b []byte) (int, error) {
	m, err := c.UDPConn.Read(b)
	c.n.countReceived(b[:max(m, 0)], err)
	return m, err
}

func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	m, a, err := c.UDPConn.ReadFrom(b)
	c.n.countReceived(b[:max(m, 0)], err)
	return m, a, err
}

func (c *udpConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	m, a, err := c.UDPConn.ReadFromUDP(b)
	c.n.countReceived(b[:max(m, 0)], err)
	return m, a, err
}

func (c *udpConn) ReadMsgUDP(b, oob []byte) (int, int, int, *net.UDPAddr, error) {
	m, oobn, flags, a, err := c.UDPConn.ReadMsgUDP(b, oob)
	c.n.countReceived(b[:max(m, 0)], err)
	return m, oobn, flags, a, err
}

func (c *udpConn) Write(b []byte) (int, error) {
	m, err := c.UDPConn.Write(b)
	c.n.countSent(b, err)
	return m, err
}

func (c *udpConn) WriteTo(b []byte, a net.Addr) (int, error) {
	m, err := c.UDPConn.WriteTo(b, a)
	c.n.countSent(b, err)
	return m, err
}

func (c *udpConn) WriteToUDP(b []byte, a *net.UDPAddr) (int, error) {
	m, err := c.UDPConn.WriteToUDP(b, a)
	c.n.countSent(b, err)
	return m, err
}

func (c *udpConn) WriteMsgUDP(b, oob []byte, a *net.UDPAddr) (int, int, error) {
	m, oobn, err := c.UDPConn.WriteMsgUDP(b, oob, a)
	c.n.countSent(b, err)
	return m, oobn, err
}
