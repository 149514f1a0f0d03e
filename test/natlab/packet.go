package natlab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// IP protocol numbers the capture decodes.
const (
	protoTCP = 6
	protoUDP = 17
)

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
)

// Packet is a decoded IPv4 packet with its TCP or UDP header.
type Packet struct {
	Src, Dst netip.AddrPort
	// Proto is 6 (TCP), 17 (UDP) or another IP protocol (ports zero).
	Proto uint8
	// Seq and Flags are TCP's.
	Seq   uint32
	Flags uint8
	// Payload is the transport payload (the IP payload for other
	// protocols). It aliases the buffer given to ParsePacket.
	Payload []byte
}

// ParsePacket decodes an IPv4 packet: header checks, then TCP or UDP.
// Fragments other than the first carry no transport header and are
// returned with Proto and Payload only.
func ParsePacket(b []byte) (Packet, error) {
	var p Packet
	if len(b) < 20 || b[0]>>4 != 4 {
		return p, fmt.Errorf("%w: not an IPv4 packet", ErrMalformed)
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || total < ihl || total > len(b) {
		// GSO super-packets on veth carry total length 0; trust the buffer.
		if !(total == 0 && ihl >= 20 && ihl <= len(b)) {
			return p, fmt.Errorf("%w: IPv4 header length %d, total %d, have %d", ErrMalformed, ihl, total, len(b))
		}
		total = len(b)
	}
	src, _ := netip.AddrFromSlice(b[12:16])
	dst, _ := netip.AddrFromSlice(b[16:20])
	p.Proto = b[9]
	body := b[ihl:total]
	fragOffset := binary.BigEndian.Uint16(b[6:8]) & 0x1fff
	if fragOffset != 0 {
		p.Src, p.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		p.Payload = body
		return p, nil
	}
	switch p.Proto {
	case protoUDP:
		if len(body) < 8 {
			return p, fmt.Errorf("%w: short UDP header", ErrMalformed)
		}
		p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[0:2]))
		p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[2:4]))
		p.Payload = body[8:]
	case protoTCP:
		if len(body) < 20 {
			return p, fmt.Errorf("%w: short TCP header", ErrMalformed)
		}
		off := int(body[12]>>4) * 4
		if off < 20 || off > len(body) {
			return p, fmt.Errorf("%w: TCP data offset %d of %d", ErrMalformed, off, len(body))
		}
		p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[0:2]))
		p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[2:4]))
		p.Seq = binary.BigEndian.Uint32(body[4:8])
		p.Flags = body[13]
		p.Payload = body[off:]
	default:
		p.Src, p.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		p.Payload = body
	}
	return p, nil
}

// Flow is one direction of a TCP connection.
type Flow struct {
	Src, Dst netip.AddrPort
}

// String is "src → dst".
func (f Flow) String() string { return f.Src.String() + " → " + f.Dst.String() }

// Stream is the reassembled bytes of one direction of a TCP connection.
type Stream struct {
	Flow
	// Data is the payload in sequence order, up to the first gap.
	Data []byte
	// FromStart is true when the SYN was captured, so Data starts at the
	// first byte of the connection.
	FromStart bool
	// Gap is true when bytes were missing and Data stops before the last
	// captured byte.
	Gap bool
}

// Reassemble puts the TCP segments of each flow in order (retransmitted
// and overlapping bytes once) and returns the streams in first-seen order.
func Reassemble(pkts []Packet) []Stream {
	type seg struct {
		seq  uint32
		data []byte
	}
	type flowState struct {
		isn    uint32
		hasSYN bool
		first  uint32
		segs   []seg
	}
	var order []Flow
	flows := map[Flow]*flowState{}
	for _, p := range pkts {
		if p.Proto != protoTCP || p.Src.Port() == 0 {
			continue
		}
		f := Flow{p.Src, p.Dst}
		st := flows[f]
		if st == nil {
			st = &flowState{first: p.Seq}
			flows[f] = st
			order = append(order, f)
		}
		if p.Flags&tcpSYN != 0 {
			st.isn, st.hasSYN = p.Seq+1, true
			continue
		}
		if len(p.Payload) > 0 {
			st.segs = append(st.segs, seg{p.Seq, p.Payload})
		}
	}
	out := make([]Stream, 0, len(order))
	for _, f := range order {
		st := flows[f]
		base := st.first
		if st.hasSYN {
			base = st.isn
		} else {
			for _, s := range st.segs {
				if int32(s.seq-base) < 0 {
					base = s.seq
				}
			}
		}
		slices.SortStableFunc(st.segs, func(a, b seg) int { return int(int32(a.seq-base)) - int(int32(b.seq-base)) })
		s := Stream{Flow: f, FromStart: st.hasSYN}
		for _, sg := range st.segs {
			off := int(int32(sg.seq - base))
			end := off + len(sg.data)
			if end <= len(s.Data) {
				continue // retransmitted or overlapping bytes
			}
			if off > len(s.Data) {
				s.Gap = true
				break
			}
			s.Data = append(s.Data, sg.data[len(s.Data)-off:]...)
		}
		out = append(out, s)
	}
	return out
}
