package media

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// FileOptions configures OpenOggWith and OpenIVFWith. The zero value plays
// the file once, paced in real time.
type FileOptions struct {
	// Loop restarts the file at its end instead of returning io.EOF; RTP
	// timestamps keep increasing across restarts.
	Loop bool
	// NoPacing makes ReadRTP return packets as fast as the caller reads
	// them, for benchmarks and tests.
	NoPacing bool
}

// frame is one unit read from a container: an Opus packet or a video frame.
type frame struct {
	data []byte
	pts  int64 // presentation time in RTP clock ticks, from the container
	dur  int64 // duration in ticks; 0 if the container does not say
}

// frameReader reads the frames of one container file.
type frameReader interface {
	// next returns the next frame, or io.EOF at the end of the media.
	next() (frame, error)
	// rewind restarts at the first frame.
	rewind() error
	// close releases the file.
	close() error
}

// fileSource turns the frames of a frameReader into paced RTP packets.
type fileSource struct {
	codec Codec
	fr    frameReader
	pay   rtp.Payloader
	loop  bool

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error

	// Owned by ReadRTP:
	pacer      pacer
	seq        uint16
	tsBase     uint32
	queue      [][]byte // payloads of the current frame not yet returned
	queueTS    int64    // pts (after shift) of the current frame
	firstPTS   int64
	started    bool
	shift      int64 // added to container pts; moves on each loop
	rebase     bool  // the next frame starts a new loop
	lastPTS    int64
	lastEnd    int64
	lastDur    int64
	passFrames int // frames read in the current pass over the file
}

func newFileSource(c Codec, fr frameReader, o FileOptions) *fileSource {
	s := &fileSource{
		codec:  c,
		fr:     fr,
		pay:    payloaderFor(c),
		loop:   o.Loop,
		closed: make(chan struct{}),
		pacer:  pacer{off: o.NoPacing},
	}
	s.seq, s.tsBase = randomStart()
	return s
}

// payloaderFor returns the pion payloader for a codec.
func payloaderFor(c Codec) rtp.Payloader {
	switch c.Name {
	case VP8.Name:
		return &codecs.VP8Payloader{EnablePictureID: true}
	case VP9.Name:
		return &vp9Payloader{}
	case AV1.Name:
		return &codecs.AV1Payloader{}
	default:
		return &codecs.OpusPayloader{}
	}
}

// vp9Payloader uses non-flexible mode, which parses the VP9 uncompressed
// header to mark keyframes and carry the resolution, and falls back to
// flexible mode for a frame whose header it cannot parse.
type vp9Payloader struct {
	nonFlex codecs.VP9Payloader
	flex    codecs.VP9Payloader
}

func (p *vp9Payloader) Payload(mtu uint16, b []byte) [][]byte {
	if out := p.nonFlex.Payload(mtu, b); len(out) > 0 {
		return out
	}
	p.flex.FlexibleMode = true
	return p.flex.Payload(mtu, b)
}

func (s *fileSource) Codec() Codec { return s.codec }

func (s *fileSource) ReadRTP(ctx context.Context) (*rtp.Packet, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for len(s.queue) == 0 {
		if err := s.fill(); err != nil {
			if s.isClosed() {
				return nil, ErrClosed
			}
			return nil, err
		}
	}
	if err := s.pacer.wait(ctx, s.closed, ticksToDuration(s.queueTS-s.firstPTS, s.codec.ClockRate)); err != nil {
		return nil, err
	}
	payload := s.queue[0]
	s.queue = s.queue[1:]
	p := &rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         s.codec.Kind == Video && len(s.queue) == 0,
			PayloadType:    s.codec.PayloadType,
			SequenceNumber: s.seq,
			Timestamp:      s.tsBase + uint32(s.queueTS),
		},
		Payload: payload,
	}
	s.seq++
	return p, nil
}

// fill reads frames until one yields payloads, looping over the file if asked.
func (s *fileSource) fill() error {
	f, err := s.fr.next()
	if errors.Is(err, io.EOF) {
		if !s.loop || s.passFrames == 0 {
			return io.EOF
		}
		if err := s.fr.rewind(); err != nil {
			return err
		}
		s.rebase, s.passFrames = true, 0
		return nil
	}
	if err != nil {
		return err
	}
	s.passFrames++
	if s.rebase {
		s.shift, s.rebase = s.lastEnd-f.pts, false
	}
	pts := f.pts + s.shift
	dur := f.dur
	if dur <= 0 {
		// The container does not say (IVF): assume the frame lasts as long
		// as the gap since the previous one.
		switch {
		case s.started && pts > s.lastPTS:
			dur = pts - s.lastPTS
		case s.lastDur > 0:
			dur = s.lastDur
		default:
			dur = int64(s.codec.ClockRate) / 30
		}
	}
	if !s.started {
		s.started, s.firstPTS = true, pts
	}
	s.lastPTS, s.lastDur, s.lastEnd = pts, dur, pts+dur
	s.queue = s.pay.Payload(MaxPayloadSize, f.data)
	s.queueTS = pts
	return nil
}

func (s *fileSource) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *fileSource) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.closeErr = s.fr.close()
	})
	return s.closeErr
}
