package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Prefix is the kind of length prefix in front of a frame's body.
type Prefix uint8

// Length prefixes.
const (
	// PrefixUvarint is a minimal uvarint, 1..10 bytes (libp2p's
	// varint-delimited messages).
	PrefixUvarint Prefix = iota
	// PrefixUint16 is 2 bytes big-endian; Max may be at most 65535.
	PrefixUint16
	// PrefixUint32 is 4 bytes big-endian.
	PrefixUint32
)

// maxFrame bounds any framing's Max, whatever its prefix, so that a body
// length always fits an int.
const maxFrame = math.MaxInt32

// growChunk is the most a reader allocates ahead of the bytes that have
// arrived: bodies up to it are allocated at once, larger ones grow as they
// are read.
const growChunk = 64 << 10

// A Framing says how frames are delimited on a stream and how large a body
// may be. The zero value is not usable: Max is required.
type Framing struct {
	// Prefix is the length prefix. Defaults to PrefixUvarint.
	Prefix Prefix
	// Max is the longest body read or written, in bytes. Required: a
	// Framing with Max ≤ 0 refuses to read or write with ErrFraming.
	Max int
}

// ReadFrame reads one frame of at most limit bytes with a uvarint prefix:
// Framing{Max: limit}.ReadFrame(r).
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	return Framing{Max: limit}.ReadFrame(r)
}

// WriteFrame writes body with a uvarint prefix if it is at most limit bytes:
// Framing{Max: limit}.WriteFrame(w, body).
func WriteFrame(w io.Writer, body []byte, limit int) error {
	return Framing{Max: limit}.WriteFrame(w, body)
}

// AppendFrame appends body with a uvarint prefix to dst if it is at most
// limit bytes: Framing{Max: limit}.AppendFrame(dst, body).
func AppendFrame(dst, body []byte, limit int) ([]byte, error) {
	return Framing{Max: limit}.AppendFrame(dst, body)
}

func (f Framing) check() error {
	limit := maxFrame
	switch f.Prefix {
	case PrefixUvarint, PrefixUint32:
	case PrefixUint16:
		limit = math.MaxUint16
	default:
		return fmt.Errorf("%w: unknown prefix %d", ErrFraming, f.Prefix)
	}
	if f.Max <= 0 || f.Max > limit {
		return fmt.Errorf("%w: max %d not in 1..%d", ErrFraming, f.Max, limit)
	}
	return nil
}

// ReadFrame reads one frame from r and returns its body. It returns io.EOF
// only if r ends cleanly before the frame starts; a frame cut short is
// ErrTruncated, a frame longer than f.Max is ErrFrameTooLarge (reported
// before its body is read). If r is not an io.ByteReader (a bufio.Reader
// is), a uvarint prefix is read one byte per Read call, so that nothing
// past the frame is consumed.
func (f Framing) ReadFrame(r io.Reader) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	n, err := f.readPrefix(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(f.Max) {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, n, f.Max)
	}
	return readBody(r, int(n))
}

// readPrefix reads the length prefix.
func (f Framing) readPrefix(r io.Reader) (uint64, error) {
	switch f.Prefix {
	case PrefixUint16:
		var b [2]byte
		if err := readPrefixFull(r, b[:]); err != nil {
			return 0, err
		}
		return uint64(binary.BigEndian.Uint16(b[:])), nil
	case PrefixUint32:
		var b [4]byte
		if err := readPrefixFull(r, b[:]); err != nil {
			return 0, err
		}
		return uint64(binary.BigEndian.Uint32(b[:])), nil
	}
	return readUvarint(r)
}

// readPrefixFull fills b: io.EOF if r ends before the first byte.
func readPrefixFull(r io.Reader, b []byte) error {
	n, err := io.ReadFull(r, b)
	switch {
	case err == nil:
		return nil
	case n == 0 && errors.Is(err, io.EOF):
		return io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: frame prefix: %w", ErrTruncated, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("wire: reading frame prefix: %w", err)
}

// readUvarint reads a minimal uvarint prefix.
func readUvarint(r io.Reader) (uint64, error) {
	var buf [binary.MaxVarintLen64]byte
	br, _ := r.(io.ByteReader)
	for i := range buf {
		var err error
		if br != nil {
			buf[i], err = br.ReadByte()
		} else {
			_, err = io.ReadFull(r, buf[i:i+1])
		}
		switch {
		case err == nil:
		case i == 0 && errors.Is(err, io.EOF):
			return 0, io.EOF
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return 0, fmt.Errorf("%w: frame prefix: %w", ErrTruncated, io.ErrUnexpectedEOF)
		default:
			return 0, fmt.Errorf("wire: reading frame prefix: %w", err)
		}
		if buf[i] < 0x80 {
			v, k := binary.Uvarint(buf[:i+1])
			switch {
			case k < 0:
				return 0, fmt.Errorf("%w: frame prefix overflows 64 bits", ErrBadVarint)
			case k > 1 && buf[i] == 0:
				return 0, fmt.Errorf("%w: frame prefix of %d bytes for %d", ErrNonMinimal, k, v)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: frame prefix longer than %d bytes", ErrBadVarint, len(buf))
}

// readBody reads n bytes, allocating at most growChunk ahead of what has
// arrived.
func readBody(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, growChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(2*cap(b), n))
			copy(grown, b)
			b = grown
		}
		k, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+k]
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("%w: frame body: %d of %d bytes: %w", ErrTruncated, len(b), n, io.ErrUnexpectedEOF)
		default:
			return nil, fmt.Errorf("wire: reading frame body: %w", err)
		}
	}
	return b, nil
}

// AppendFrame appends the prefix and body of a frame to dst. It refuses a
// body longer than f.Max with ErrFrameTooLarge.
func (f Framing) AppendFrame(dst, body []byte) ([]byte, error) {
	if err := f.check(); err != nil {
		return dst, err
	}
	if len(body) > f.Max {
		return dst, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, len(body), f.Max)
	}
	switch f.Prefix {
	case PrefixUint16:
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(body)))
	case PrefixUint32:
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	default:
		dst = binary.AppendUvarint(dst, uint64(len(body)))
	}
	return append(dst, body...), nil
}

// WriteFrame writes one frame to w in a single Write call.
func (f Framing) WriteFrame(w io.Writer, body []byte) error {
	b, err := f.AppendFrame(make([]byte, 0, binary.MaxVarintLen64+len(body)), body)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("wire: writing frame: %w", err)
	}
	return nil
}
