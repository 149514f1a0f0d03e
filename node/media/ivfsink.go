package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// ivfMaxLate is how many later packets the IVF sink waits for a missing one
// before it drops the frame that lost it.
const ivfMaxLate = 128

// av1TemporalDelimiter starts every AV1 temporal unit in an IVF file; RTP
// drops it (AV1 RTP spec section 5), so the sink puts it back.
var av1TemporalDelimiter = []byte{0x12, 0x00}

// ivfSink reorders packets, reassembles frames with pion's depacketizers
// and writes them to an IVF file whose time base is 1/90000 s, so pts are RTP
// ticks since the first frame.
//
// pion's ivfwriter is not used: it assumes packets arrive in order and
// complete (a lost marker glues two frames together) and writes millisecond
// timestamps under a 1/30 s time base. Nor is its samplebuilder: when it
// gives up on a frame that lost a packet, it also skips the first packet of
// the next frame, so one loss costs two frames.
type ivfSink struct {
	mu sync.Mutex // guards everything below

	w      io.WriteSeeker
	closer io.Closer // nil if the caller owns w
	codec  Codec
	ro     *reorder
	fa     frameAssembler

	closed  bool
	seenKey bool
	frames  uint32
	lastTS  uint32 // RTP timestamp of the last frame written
	lastExt int64  // its pts: unwrapped ticks since the first frame
	width   uint16
	height  uint16
	err     error // first write error; the file is unusable after it
}

// NewIVFSink writes the received VP8, VP9 or AV1 stream to a new IVF file
// at path (mode 0600), creating missing directories (0700); a file or link
// already at path is refused with ErrExists. Packets are put back in order
// (a missing one is waited for until 128 later ones have arrived, or
// Close), frames are reassembled, frames that lost a packet are dropped,
// and writing starts at the first keyframe. Close writes the frame count
// (and, for VP8, the resolution of the first keyframe) into the header.
func NewIVFSink(path string, c Codec) (Sink, error) {
	if _, err := ivfFourCC(c); err != nil {
		return nil, fmt.Errorf("media: ivf sink: %w", err)
	}
	f, err := createRecording(path)
	if err != nil {
		return nil, fmt.Errorf("media: ivf sink: %w", err)
	}
	return newIVFFileSink(f, c)
}

// newIVFFileSink writes to the new, empty file f, which it owns from now.
func newIVFFileSink(f *os.File, c Codec) (Sink, error) {
	s, err := newIVFSink(f, c)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("media: ivf sink: %w", err), f.Close())
	}
	s.closer = f
	return s, nil
}

// newIVFSink writes the IVF header to w and returns the sink.
func newIVFSink(w io.WriteSeeker, c Codec) (*ivfSink, error) {
	fourcc, err := ivfFourCC(c)
	if err != nil {
		return nil, err
	}
	var dp rtp.Depacketizer
	switch c.Name {
	case VP8.Name:
		dp = &codecs.VP8Packet{}
	case VP9.Name:
		dp = &codecs.VP9Packet{}
	default:
		dp = &codecs.AV1Depacketizer{}
	}
	s := &ivfSink{w: w, codec: c, ro: newReorder(ivfMaxLate), fa: frameAssembler{dp: dp}}
	hdr := make([]byte, ivfFileHeaderLen)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], ivfFileHeaderLen)
	copy(hdr[8:], fourcc)
	binary.LittleEndian.PutUint32(hdr[16:], videoClockRate) // rate
	binary.LittleEndian.PutUint32(hdr[20:], 1)              // scale
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return s, nil
}

// ivfFourCC returns the IVF fourcc of a video codec.
func ivfFourCC(c Codec) (string, error) {
	switch c.Name {
	case VP8.Name:
		return "VP80", nil
	case VP9.Name:
		return "VP90", nil
	case AV1.Name:
		return "AV01", nil
	}
	return "", fmt.Errorf("%w: %s in IVF", ErrUnsupportedCodec, c.Name)
}

// isKeyframeHead tells from the depacketizer state after the first packet
// of a frame whether the frame is a keyframe.
func isKeyframeHead(d rtp.Depacketizer) bool {
	switch d := d.(type) {
	case *codecs.VP8Packet:
		return d.S == 1 && d.PID == 0 && len(d.Payload) > 0 && d.Payload[0]&1 == 0
	case *codecs.VP9Packet:
		return d.B && !d.P
	case *codecs.AV1Depacketizer:
		return d.N
	}
	return false
}

func (s *ivfSink) WriteRTP(p *rtp.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.err != nil {
		return s.err
	}
	s.ro.push(p.Clone(), s.emitLocked)
	return s.err
}

// emitLocked takes the next packet in order from the reorder buffer.
func (s *ivfSink) emitLocked(p *rtp.Packet, lost bool) {
	data, ts, key, ok := s.fa.add(p, lost)
	if !ok || s.err != nil {
		return
	}
	if err := s.writeFrameLocked(data, ts, key); err != nil {
		s.err = fmt.Errorf("media: ivf sink: write: %w", err)
	}
}

// writeFrameLocked appends one frame with RTP timestamp ts; frames before
// the first keyframe are skipped.
func (s *ivfSink) writeFrameLocked(data []byte, ts uint32, key bool) error {
	if s.codec.Name == AV1.Name && len(data) > 0 && data[0]>>3&0xF == 1 {
		key = true // starts with a sequence header OBU
	}
	if !s.seenKey {
		if !key || len(data) == 0 {
			return nil
		}
		s.seenKey = true
		s.lastTS = ts
	}
	s.lastExt += int64(int32(ts - s.lastTS))
	s.lastTS = ts
	pts := max(s.lastExt, 0)

	if s.codec.Name == AV1.Name {
		data = append(append([]byte{}, av1TemporalDelimiter...), data...)
	}
	if key && s.codec.Name == VP8.Name && s.width == 0 {
		s.width, s.height = vp8Size(data)
	}
	buf := make([]byte, ivfFrameHeaderLen, ivfFrameHeaderLen+len(data))
	binary.LittleEndian.PutUint32(buf, uint32(len(data)))
	binary.LittleEndian.PutUint64(buf[4:], uint64(pts))
	if _, err := s.w.Write(append(buf, data...)); err != nil {
		return err
	}
	s.frames++
	return nil
}

// vp8Size reads the resolution from a VP8 keyframe header (RFC 6386
// section 9.1), or returns zeros if the start code is missing.
func vp8Size(f []byte) (w, h uint16) {
	if len(f) < 10 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0
	}
	return binary.LittleEndian.Uint16(f[6:]) & 0x3fff, binary.LittleEndian.Uint16(f[8:]) & 0x3fff
}

// Close writes what is still buffered, completes the header and closes the
// file.
func (s *ivfSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.err == nil {
		s.ro.flush(s.emitLocked)
		errs = append(errs, s.err, s.finishHeaderLocked())
	}
	if s.closer != nil {
		errs = append(errs, s.closer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("media: ivf sink: close: %w", err)
	}
	return nil
}

// finishHeaderLocked writes the resolution and frame count into the header.
func (s *ivfSink) finishHeaderLocked() error {
	var b [16]byte
	binary.LittleEndian.PutUint16(b[0:], s.width)
	binary.LittleEndian.PutUint16(b[2:], s.height)
	binary.LittleEndian.PutUint32(b[4:], videoClockRate)
	binary.LittleEndian.PutUint32(b[8:], 1)
	binary.LittleEndian.PutUint32(b[12:], s.frames)
	if _, err := s.w.Seek(12, io.SeekStart); err != nil {
		return err
	}
	if _, err := s.w.Write(b[:]); err != nil {
		return err
	}
	_, err := s.w.Seek(0, io.SeekEnd)
	return err
}
