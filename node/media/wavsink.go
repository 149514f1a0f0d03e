package media

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"github.com/pion/rtp"
)

// wavSink writes a received PCMU (G.711 µ-law) stream to a WAV file as
// 16-bit linear PCM, 8 kHz mono, which every player reads. Packets lost on
// the way become silence (up to maxWAVGap at a time), so the file keeps the
// call's timing; late packets (a sequence number not after the last one
// written) are dropped. The RIFF sizes in the header are brought up to date
// every wavHeaderEvery packets and on Close, so a daemon killed mid-call
// leaves a file that plays up to about a second before the kill.
type wavSink struct {
	mu      sync.Mutex // guards the fields below
	f       *os.File
	data    uint32 // bytes of samples written
	started bool
	lastSeq uint16
	nextTS  uint32 // RTP timestamp the next packet should carry
	packets int
	buf     []byte
}

const (
	wavHeaderLen   = 44
	wavHeaderEvery = 50             // packets (one second of 20 ms packets)
	maxWAVGap      = 8000           // samples of silence inserted at most for one gap (1 s)
	maxWAVData     = 1<<32 - 1 - 36 // the RIFF size field's limit (about 74 hours)
)

// NewWAVSink writes the received PCMU stream to a new WAV file at path
// (mode 0600), creating missing directories (0700). A file or link already
// at path is refused with ErrExists.
func NewWAVSink(path string) (Sink, error) {
	f, err := createRecording(path)
	if err != nil {
		return nil, fmt.Errorf("media: wav sink: %w", err)
	}
	return newWAVFileSink(f)
}

// newWAVFileSink writes to the new, empty file f, which it owns from now.
func newWAVFileSink(f *os.File) (Sink, error) {
	s := &wavSink{f: f}
	if _, err := f.Write(s.header()); err != nil {
		f.Close()
		return nil, fmt.Errorf("media: wav sink: %w", err)
	}
	return s, nil
}

// header is the 44-byte RIFF/WAVE header for the data written so far.
func (s *wavSink) header() []byte {
	h := make([]byte, 0, wavHeaderLen)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, 36+s.data)
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 1) // linear PCM
	h = binary.LittleEndian.AppendUint16(h, uint16(PCMU.Channels))
	h = binary.LittleEndian.AppendUint32(h, PCMU.ClockRate)
	h = binary.LittleEndian.AppendUint32(h, PCMU.ClockRate*2) // bytes per second
	h = binary.LittleEndian.AppendUint16(h, 2)                // block align
	h = binary.LittleEndian.AppendUint16(h, 16)               // bits per sample
	h = append(h, "data"...)
	return binary.LittleEndian.AppendUint32(h, s.data)
}

func (s *wavSink) WriteRTP(p *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	if s.started && int16(p.SequenceNumber-s.lastSeq) <= 0 {
		return nil
	}
	s.buf = s.buf[:0]
	if s.started {
		if gap := int32(p.Timestamp - s.nextTS); gap > 0 {
			s.buf = append(s.buf, make([]byte, 2*min(gap, maxWAVGap))...)
		}
	}
	for _, b := range p.Payload {
		s.buf = binary.LittleEndian.AppendUint16(s.buf, uint16(DecodeULaw(b)))
	}
	if uint64(s.data)+uint64(len(s.buf)) > maxWAVData {
		return fmt.Errorf("media: wav sink: file full (%d bytes of samples)", s.data)
	}
	s.started, s.lastSeq, s.nextTS = true, p.SequenceNumber, p.Timestamp+uint32(len(p.Payload))
	if _, err := s.f.Write(s.buf); err != nil {
		return fmt.Errorf("media: wav sink: %w", err)
	}
	s.data += uint32(len(s.buf))
	if s.packets++; s.packets%wavHeaderEvery == 0 {
		if _, err := s.f.WriteAt(s.header(), 0); err != nil {
			return fmt.Errorf("media: wav sink: %w", err)
		}
	}
	return nil
}

func (s *wavSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	_, err := s.f.WriteAt(s.header(), 0)
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		return fmt.Errorf("media: wav sink: close: %w", err)
	}
	return nil
}
