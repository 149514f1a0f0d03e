package media

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"
)

// MaxPayloadSize is the largest RTP payload a file source produces for video:
// frames are split so each payload (payload descriptor included) fits, which
// leaves room for the RTP and SRTP headers and an ICE/TURN envelope inside a
// 1500-byte MTU. Opus packets are never split (RFC 7587 forbids it).
const MaxPayloadSize = 1200

// Source produces the RTP packets of one outgoing stream.
type Source interface {
	// Codec returns the codec of the packets.
	Codec() Codec

	// ReadRTP returns the next packet to send, paced in real time: it blocks
	// until the packet is due (a tone every 20 ms; a file at its own
	// timestamps; a UDP source as packets arrive). SequenceNumber and
	// Timestamp are set by the source from a random start, PayloadType is
	// Codec().PayloadType; the caller overwrites SSRC. A file source returns
	// io.EOF at its end unless it loops. ReadRTP returns ctx.Err() when ctx
	// ends first and ErrClosed after Close. Only one goroutine may call
	// ReadRTP at a time; Close may be called from any goroutine and unblocks
	// it.
	ReadRTP(ctx context.Context) (*rtp.Packet, error)

	// Close releases the source. It is idempotent.
	Close() error
}

// Sink consumes the RTP packets of one incoming stream.
type Sink interface {
	// WriteRTP consumes one received packet. It does not keep p or its
	// payload after it returns (sinks copy what they buffer), and an error
	// concerns that packet only: the sink stays usable. Sinks are safe for
	// concurrent use.
	WriteRTP(p *rtp.Packet) error

	// Close flushes and releases the sink. It is idempotent.
	Close() error
}

// maxLag is how far behind schedule a paced source may fall before it stops
// trying to catch up (which would send a burst) and restarts its clock.
// maxGap caps a single wait, so a file whose timestamps jump far ahead does
// not stall the stream for that long.
const (
	maxLag = 500 * time.Millisecond
	maxGap = 5 * time.Second
)

// pacer releases packets at their media time. Offsets are media time since
// the stream began; the first call anchors the clock and returns at once.
type pacer struct {
	off     bool // no pacing: wait returns at once
	started bool
	start   time.Time // wall time of media offset 0
}

// wait blocks until media offset off is due, ctx ends or closed is closed.
func (p *pacer) wait(ctx context.Context, closed <-chan struct{}, off time.Duration) error {
	if p.off {
		return nil
	}
	now := time.Now()
	if !p.started {
		p.started = true
		p.start = now.Add(-off)
		return nil
	}
	d := p.start.Add(off).Sub(now)
	switch {
	case d <= 0:
		if -d > maxLag {
			p.start = now.Add(-off)
		}
		return nil
	case d > maxGap:
		p.start = now.Add(-off)
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return ErrClosed
	}
}

// ticksToDuration converts RTP clock ticks to a duration; negative offsets
// give 0 (due at once).
func ticksToDuration(ticks int64, clockRate uint32) time.Duration {
	if ticks <= 0 || clockRate == 0 {
		return 0
	}
	sec := ticks / int64(clockRate)
	rem := ticks % int64(clockRate)
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(clockRate)
}

// randomStart returns a random initial sequence number and timestamp, as
// RFC 3550 section 5.1 asks.
func randomStart() (uint16, uint32) {
	return uint16(rand.Uint32()), rand.Uint32()
}
