package media

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// oggSink writes received Opus packets to an Ogg file with pion's Ogg
// writer: one packet per page, granule positions from each packet's TOC.
type oggSink struct {
	mu      sync.Mutex // guards the fields below
	w       *oggwriter.Writer
	track   *oggwriter.Track
	started bool
	lastSeq uint16
}

// oggTrackSSRC is the SSRC the sink's one Ogg track is registered under;
// packets are written to it whatever their own SSRC.
const oggTrackSSRC = 0

// NewOggSink writes the received Opus stream to a new Ogg/Opus file at path
// (mode 0600), creating missing directories (0700). A file or link already
// at path is refused with ErrExists. Packets arriving late (a sequence
// number not after the last one written) are dropped: the file keeps
// arrival order, and a reordered packet is not worth a jitter buffer for
// audio.
func NewOggSink(path string) (Sink, error) {
	f, err := createRecording(path)
	if err != nil {
		return nil, fmt.Errorf("media: ogg sink: %w", err)
	}
	return newOggFileSink(f)
}

// newOggFileSink writes to the new, empty file f, which it owns from now.
func newOggFileSink(f *os.File) (Sink, error) {
	w, err := oggwriter.NewWriter(f, oggwriter.WithSeekableOutput(f),
		oggwriter.WithSampleRate(Opus.ClockRate), oggwriter.WithChannelCount(Opus.Channels))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("media: ogg sink: %w", err), f.Close())
	}
	track, err := w.NewTrack(oggTrackSSRC)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("media: ogg sink: %w", err), w.Close())
	}
	return &oggSink{w: w, track: track}, nil
}

func (s *oggSink) WriteRTP(p *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return ErrClosed
	}
	if s.started && int16(p.SequenceNumber-s.lastSeq) <= 0 {
		return nil
	}
	s.started, s.lastSeq = true, p.SequenceNumber
	q := *p // the packet is shared with other sinks: change a copy
	q.SSRC = oggTrackSSRC
	if err := s.track.WriteRTP(&q); err != nil {
		return fmt.Errorf("media: ogg sink: %w", err)
	}
	return nil
}

func (s *oggSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w, s.track = nil, nil
	if err != nil {
		return fmt.Errorf("media: ogg sink: close: %w", err)
	}
	return nil
}
