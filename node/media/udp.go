package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"
)

// MaxPacketSize is the largest datagram ListenRTP accepts; longer ones are
// dropped and counted as oversized.
const MaxPacketSize = 1500

// UDPOptions configures ListenUDP and NewUDPSinkWith.
type UDPOptions struct {
	// AllowNonLoopback permits an address that is not loopback. Media on a
	// local port is in clear, so by default only 127.0.0.0/8 and ::1 (and
	// names resolving to them, like "localhost") are accepted.
	AllowNonLoopback bool

	// From is the only sender address a UDPSource accepts datagrams from
	// (ListenUDP only). By default the source accepts the address of the
	// first valid RTP packet and, from then on, nothing else. Set it when
	// the sender may restart: give the sender a fixed source port
	// (ffmpeg: rtp://127.0.0.1:PORT?localport=N) and name it here.
	From netip.AddrPort
}

// resolveUDP resolves addr and enforces the loopback rule.
func resolveUDP(op, addr string, o UDPOptions) (*net.UDPAddr, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("media: %s %q: %w", op, addr, err)
	}
	if !o.AllowNonLoopback && !ua.IP.IsLoopback() {
		return nil, fmt.Errorf("media: %s %q: %w", op, addr, ErrNotLoopback)
	}
	return ua, nil
}

// UDPStats counts what a UDPSource received. Every datagram is counted
// in exactly one field.
type UDPStats struct {
	Packets   uint64 // valid RTP packets returned by ReadRTP
	Garbage   uint64 // datagrams dropped because they are not valid RTP
	Oversized uint64 // datagrams dropped because they exceed MaxPacketSize
	Late      uint64 // valid RTP dropped as late, duplicate or far behind
	Foreign   uint64 // datagrams dropped because they came from another sender
}

// maxMisorder is how far behind the newest packet of its sender a packet
// may be and still count as late (dropped) rather than as a sign that the
// sender restarted its numbering (RFC 3550 A.1's MAX_MISORDER).
const maxMisorder = 100

// UDPSource is a Source of RTP packets arriving on a local UDP port, from
// ffmpeg (-f rtp rtp://127.0.0.1:PORT), GStreamer (udpsink) or any RTP
// sender. Each datagram is validated (see ErrBadRTP); invalid and oversized
// ones are dropped and counted. Only one sender is listened to: the
// address of the first valid packet, or UDPOptions.From.
//
// The source numbers what it passes on itself, densely: each packet gets
// the sequence number after the previous one's, from a random start,
// whatever the sender's numbers were. A packet behind the newest one of
// the same sender SSRC (late, duplicated, or replayed by a local process)
// is dropped and counted, never passed on with a number used before; the
// SRTP index, and so the nonce, of the encrypted packet derives from the
// sequence number. Two packets in a row far behind (more than
// maxMisorder) mean the sender restarted its numbering, as does a new
// SSRC (ffmpeg restarted): numbering goes on seamlessly and timestamps
// continue with the time that passed. The payload type is set to the
// codec's; CSRCs, header extensions and padding are removed.
type UDPSource struct {
	conn  *net.UDPConn
	codec Codec

	packets, garbage, oversized, late, foreign atomic.Uint64

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error

	// Owned by ReadRTP:
	buf       [MaxPacketSize + 1]byte
	from      netip.AddrPort // the one sender; invalid until the first packet unless configured
	anchored  bool
	inSSRC    uint32 // the sender's SSRC and newest sequence number
	inSeq     uint16
	restart   uint16 // with restartOK: the number after a packet far behind
	restartOK bool
	outSeq    uint16 // the last sequence number passed on
	tsOff     uint32
	lastTS    uint32
	lastAt    time.Time
}

// ListenRTP listens on the loopback UDP address addr for RTP packets of codec
// c. See UDPSource.
func ListenRTP(addr string, c Codec) (Source, error) {
	return ListenUDP(addr, c, UDPOptions{})
}

// ListenUDP is ListenRTP with options, returning the concrete type for Addr
// and Stats. Port 0 picks a free port.
func ListenUDP(addr string, c Codec, o UDPOptions) (*UDPSource, error) {
	ua, err := resolveUDP("listen rtp", addr, o)
	if err != nil {
		return nil, err
	}
	if o.From.IsValid() && o.From.Port() == 0 {
		return nil, fmt.Errorf("media: listen rtp: %w: sender address %s has no port", ErrBadSpec, o.From)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("media: listen rtp: %w", err)
	}
	return &UDPSource{conn: conn, codec: c, closed: make(chan struct{}), from: unmap(o.From)}, nil
}

// unmap turns an IPv4-mapped IPv6 address into plain IPv4, so addresses
// compare equal whichever way the socket reports them.
func unmap(a netip.AddrPort) netip.AddrPort {
	if !a.IsValid() {
		return a
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Addr returns the local address the source listens on.
func (s *UDPSource) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Stats returns the counters. It is safe to call concurrently with ReadRTP.
func (s *UDPSource) Stats() UDPStats {
	return UDPStats{
		Packets: s.packets.Load(), Garbage: s.garbage.Load(), Oversized: s.oversized.Load(),
		Late: s.late.Load(), Foreign: s.foreign.Load(),
	}
}

// Codec returns the codec given to ListenRTP.
func (s *UDPSource) Codec() Codec { return s.codec }

// ReadRTP blocks until a valid RTP packet arrives.
func (s *UDPSource) ReadRTP(ctx context.Context) (*rtp.Packet, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Interrupt a blocked read when ctx ends; wait for that to finish
	// before returning so it cannot hit a later read.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = s.conn.SetReadDeadline(time.Now())
	})
	defer func() {
		if !stop() {
			<-fired
			_ = s.conn.SetReadDeadline(time.Time{})
		}
	}()
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(s.buf[:])
		if err != nil {
			select {
			case <-s.closed:
				return nil, ErrClosed
			default:
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("media: read rtp: %w", err)
		}
		from = unmap(from)
		if s.from.IsValid() && from != s.from {
			s.foreign.Add(1)
			continue
		}
		p, err := ParseRTPPacket(s.buf[:n])
		switch {
		case errors.Is(err, ErrOversized):
			s.oversized.Add(1)
			continue
		case err != nil:
			s.garbage.Add(1)
			continue
		}
		if !s.renumber(p, time.Now()) {
			s.late.Add(1)
			continue
		}
		s.from = from // the first valid packet names the sender
		s.packets.Add(1)
		return p, nil
	}
}

// renumber moves p onto this source's numbering: the next sequence
// number, the sender's timestamp shifted by the current offset, the
// codec's payload type. It returns false, changing nothing, for a packet
// to drop: behind the sender's newest (late or duplicate), or the first
// of a run far behind it.
func (s *UDPSource) renumber(p *rtp.Packet, now time.Time) bool {
	switch {
	case !s.anchored:
		seq, ts := randomStart()
		s.outSeq, s.tsOff = seq-1, ts-p.Timestamp
		s.anchored = true
	case p.SSRC != s.inSSRC:
		s.rebase(p, now) // a new sender
	default:
		switch d := int16(p.SequenceNumber - s.inSeq); {
		case d > 0: // next, or after a gap
		case d > -maxMisorder:
			return false // late or duplicate
		case s.restartOK && p.SequenceNumber == s.restart:
			s.rebase(p, now) // the second in a row: the sender restarted
		default:
			s.restart, s.restartOK = p.SequenceNumber+1, true
			return false
		}
	}
	s.restartOK = false
	s.inSSRC, s.inSeq, s.lastAt = p.SSRC, p.SequenceNumber, now
	s.outSeq++
	p.SequenceNumber = s.outSeq
	p.Timestamp += s.tsOff
	p.PayloadType = s.codec.PayloadType
	p.SSRC = 0
	s.lastTS = p.Timestamp
	return true
}

// rebase makes p's timestamps continue after the last packet's, with the
// time that passed in between (at most an hour).
func (s *UDPSource) rebase(p *rtp.Packet, now time.Time) {
	gap := uint32(min(now.Sub(s.lastAt).Seconds(), 3600) * float64(s.codec.ClockRate))
	s.tsOff = s.lastTS + gap - p.Timestamp
}

// ParseRTPPacket validates one datagram received from a local RTP sender and
// returns it as a packet that owns its bytes: version 2, at most
// MaxPacketSize bytes, a non-empty payload, a payload type outside the RTCP
// range, and no CSRCs, header extensions or padding left in the result.
func ParseRTPPacket(b []byte) (*rtp.Packet, error) {
	if len(b) > MaxPacketSize {
		return nil, fmt.Errorf("media: parse rtp: %d bytes: %w", len(b), ErrOversized)
	}
	p := &rtp.Packet{}
	if err := p.Unmarshal(bytes.Clone(b)); err != nil {
		return nil, fmt.Errorf("media: parse rtp: %w: %w", ErrBadRTP, err)
	}
	switch {
	case p.Version != 2:
		return nil, fmt.Errorf("media: parse rtp: %w: version %d", ErrBadRTP, p.Version)
	case p.PayloadType >= 64 && p.PayloadType <= 95:
		return nil, fmt.Errorf("media: parse rtp: %w: payload type %d (RTCP?)", ErrBadRTP, p.PayloadType)
	case len(p.Payload) == 0:
		return nil, fmt.Errorf("media: parse rtp: %w: empty payload", ErrBadRTP)
	}
	return &rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         p.Marker,
			PayloadType:    p.PayloadType,
			SequenceNumber: p.SequenceNumber,
			Timestamp:      p.Timestamp,
			SSRC:           p.SSRC,
		},
		Payload: p.Payload,
	}, nil
}

// Close stops listening; a blocked ReadRTP returns ErrClosed.
func (s *UDPSource) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.closeErr = s.conn.Close()
	})
	return s.closeErr
}

// UDPSink forwards received RTP packets to a local UDP port, for ffplay,
// GStreamer or a recorder listening there. Packets go out as they came in.
// While nothing listens on the port, packets are dropped silently.
type UDPSink struct {
	conn *net.UDPConn

	mu      sync.Mutex // guards closed
	closed  bool
	dropped atomic.Uint64
}

// NewUDPSink forwards to the loopback UDP address addr.
func NewUDPSink(addr string) (Sink, error) { return NewUDPSinkWith(addr, UDPOptions{}) }

// NewUDPSinkWith is NewUDPSink with options.
func NewUDPSinkWith(addr string, o UDPOptions) (*UDPSink, error) {
	ua, err := resolveUDP("udp sink", addr, o)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, fmt.Errorf("media: udp sink: %w", err)
	}
	return &UDPSink{conn: conn}, nil
}

// WriteRTP sends p to the port.
func (s *UDPSink) WriteRTP(p *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	b, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("media: udp sink: marshal: %w", err)
	}
	if _, err := s.conn.Write(b); err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			s.dropped.Add(1) // nobody listens (yet): not an error
			return nil
		}
		return fmt.Errorf("media: udp sink: %w", err)
	}
	return nil
}

// Dropped returns how many packets were dropped because nothing listened.
func (s *UDPSink) Dropped() uint64 { return s.dropped.Load() }

// Close closes the socket.
func (s *UDPSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.conn.Close()
}
