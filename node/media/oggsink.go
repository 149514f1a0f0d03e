package media

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// oggSink writes received Opus packets to an Ogg file with pion's oggwriter:
// one packet per page, granule positions from each packet's TOC.
type oggSink struct {
	mu      sync.Mutex // guards the fields below
	w       *oggwriter.OggWriter
	started bool
	lastSeq uint16
}

// NewOggSink writes the received Opus stream to an Ogg/Opus file at path,
// creating missing directories. Packets arriving late (a sequence number not
// after the last one written) are dropped: the file keeps arrival order,
// and a reordered packet is not worth a jitter buffer for audio.
func NewOggSink(path string) (Sink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("media: ogg sink: %w", err)
	}
	w, err := oggwriter.New(path, Opus.ClockRate, Opus.Channels)
	if err != nil {
		return nil, fmt.Errorf("media: ogg sink: %w", err)
	}
	return &oggSink{w: w}, nil
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
	if err := s.w.WriteRTP(p); err != nil {
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
	s.w = nil
	if err != nil {
		return fmt.Errorf("media: ogg sink: close: %w", err)
	}
	return nil
}
