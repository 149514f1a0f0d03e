package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
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

// UDPStats counts what a UDPSource received.
type UDPStats struct {
	Packets   uint64 // valid RTP packets returned by ReadRTP
	Garbage   uint64 // datagrams dropped because they are not valid RTP
	Oversized uint64 // datagrams dropped because they exceed MaxPacketSize
}

// UDPSource is a Source of RTP packets arriving on a local UDP port, from
// ffmpeg (-f rtp rtp://127.0.0.1:PORT), GStreamer (udpsink) or any RTP
// sender. Each datagram is validated (see ErrBadRTP); invalid and oversized
// ones are dropped and counted. Packets are passed on as they arrive, with
// the payload type set to the codec's, CSRCs, header extensions and padding
// removed, and the sequence number and timestamp moved to this source's own
// random start (the sender's gaps are kept; when the sender's SSRC changes,
// for example because ffmpeg restarted, numbering continues seamlessly).
type UDPSource struct {
	conn  *net.UDPConn
	codec Codec

	packets, garbage, oversized atomic.Uint64

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error

	// Owned by ReadRTP:
	buf      [MaxPacketSize + 1]byte
	anchored bool
	inSSRC   uint32
	seqOff   uint16
	tsOff    uint32
	lastSeq  uint16
	lastTS   uint32
	lastAt   time.Time
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
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("media: listen rtp: %w", err)
	}
	return &UDPSource{conn: conn, codec: c, closed: make(chan struct{})}, nil
}

// Addr returns the local address the source listens on.
func (s *UDPSource) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Stats returns the counters. It is safe to call concurrently with ReadRTP.
func (s *UDPSource) Stats() UDPStats {
	return UDPStats{Packets: s.packets.Load(), Garbage: s.garbage.Load(), Oversized: s.oversized.Load()}
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
		n, _, err := s.conn.ReadFromUDP(s.buf[:])
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
		p, err := ParseRTPPacket(s.buf[:n])
		switch {
		case errors.Is(err, ErrOversized):
			s.oversized.Add(1)
			continue
		case err != nil:
			s.garbage.Add(1)
			continue
		}
		s.renumber(p)
		s.packets.Add(1)
		return p, nil
	}
}

// renumber moves p's sequence number and timestamp onto this source's
// numbering and sets its payload type.
func (s *UDPSource) renumber(p *rtp.Packet) {
	now := time.Now()
	switch {
	case !s.anchored:
		seq, ts := randomStart()
		s.seqOff, s.tsOff = seq-p.SequenceNumber, ts-p.Timestamp
		s.anchored = true
	case p.SSRC != s.inSSRC:
		// A new sender: continue after the last packet, with the time
		// that passed in between.
		gap := uint32(min(now.Sub(s.lastAt).Seconds(), 3600) * float64(s.codec.ClockRate))
		s.seqOff = s.lastSeq + 1 - p.SequenceNumber
		s.tsOff = s.lastTS + gap - p.Timestamp
	}
	s.inSSRC, s.lastAt = p.SSRC, now
	p.SequenceNumber += s.seqOff
	p.Timestamp += s.tsOff
	p.PayloadType = s.codec.PayloadType
	p.SSRC = 0
	s.lastSeq, s.lastTS = p.SequenceNumber, p.Timestamp
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
