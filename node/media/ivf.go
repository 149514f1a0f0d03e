package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// MaxIVFFrameSize bounds one IVF frame; a larger frame size field is taken as
// a corrupt file rather than allocated.
const MaxIVFFrameSize = 16 << 20

const (
	ivfFileHeaderLen  = 32
	ivfFrameHeaderLen = 12
	videoClockRate    = 90000
)

// OpenIVF opens an IVF file as a paced Source. The codec (VP8, VP9 or AV1)
// comes from the file's fourcc; each frame is split by the codec's pion
// payloader into payloads of at most MaxPayloadSize bytes, all with the
// frame's timestamp and the marker bit on the last. With loop, the file
// restarts at its end and timestamps keep increasing; otherwise ReadRTP
// returns io.EOF at the end.
func OpenIVF(path string, loop bool) (Source, error) {
	return OpenIVFWith(path, FileOptions{Loop: loop})
}

// OpenIVFWith is OpenIVF with all options.
func OpenIVFWith(path string, o FileOptions) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: open ivf: %w", pathErrno(err)) // the caller names the file
	}
	r := &ivfFile{rs: f, closer: f}
	if err := r.rewind(); err != nil {
		return nil, errors.Join(fmt.Errorf("media: open ivf %s: %w", path, err), f.Close())
	}
	return newFileSource(r.codec, r, o), nil
}

// ivfFile is the frameReader of an IVF file.
type ivfFile struct {
	rs     io.ReadSeeker
	closer io.Closer
	codec  Codec
	br     *bufio.Reader
	rd     *ivfreader.IVFReader
	num    uint64 // time base numerator: seconds per pts unit = num/den
	den    uint64
}

func (r *ivfFile) close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// rewind (re)reads the file header.
func (r *ivfFile) rewind() error {
	if _, err := r.rs.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r.br = bufio.NewReader(r.rs)
	rd, hdr, err := ivfreader.NewWith(r.br)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadIVF, err)
	}
	c, err := ivfCodec(hdr.FourCC)
	if err != nil {
		return err
	}
	if r.codec.Name != "" && r.codec != c {
		return fmt.Errorf("%w: fourcc changed", ErrBadIVF)
	}
	// pion names the header's rate field TimebaseDenominator and its scale
	// TimebaseNumerator; a pts unit lasts scale/rate seconds.
	r.rd, r.codec = rd, c
	r.num, r.den = uint64(hdr.TimebaseNumerator), uint64(hdr.TimebaseDenominator)
	return nil
}

// ivfCodec maps an IVF fourcc to its codec.
func ivfCodec(fourcc string) (Codec, error) {
	switch fourcc {
	case "VP80":
		return VP8, nil
	case "VP90":
		return VP9, nil
	case "AV01":
		return AV1, nil
	}
	return Codec{}, fmt.Errorf("%w: IVF fourcc %q", ErrUnsupportedCodec, fourcc)
}

// next returns the next frame with its pts in 90 kHz ticks. A truncated last
// frame ends the file like io.EOF.
func (r *ivfFile) next() (frame, error) {
	// Peek at the frame header first: pion's reader allocates whatever
	// size it says, and hides the raw pts behind a lossy conversion.
	fh, err := r.br.Peek(ivfFrameHeaderLen)
	if len(fh) < ivfFrameHeaderLen {
		if err == nil || errors.Is(err, io.EOF) {
			return frame{}, io.EOF
		}
		return frame{}, err
	}
	size := binary.LittleEndian.Uint32(fh)
	pts := binary.LittleEndian.Uint64(fh[4:])
	if size > MaxIVFFrameSize {
		return frame{}, fmt.Errorf("%w: frame of %d bytes", ErrBadIVF, size)
	}
	ticks, ok := mulDiv(pts, r.num*videoClockRate, r.den)
	if !ok || ticks > math.MaxInt64/2 {
		return frame{}, fmt.Errorf("%w: pts %d overflows", ErrBadIVF, pts)
	}
	data, _, err := r.rd.ParseNextFrame()
	switch {
	case errors.Is(err, os.ErrClosed):
		return frame{}, err
	case err != nil:
		return frame{}, io.EOF // truncated last frame
	}
	return frame{data: data, pts: int64(ticks)}, nil
}

// mulDiv returns a*b/c without intermediate overflow; ok is false if c is 0
// or the result does not fit in 64 bits.
func mulDiv(a, b, c uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	if c == 0 || hi >= c {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, c)
	return q, true
}
