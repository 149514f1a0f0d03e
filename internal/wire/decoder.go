package wire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// A Decoder reads fields from a byte slice. It keeps the first error: after
// one, every read returns a zero value and consumes nothing, and
// [Decoder.Finish] returns that error. Slices it returns share memory with
// the input and have their capacity cut to their length; copy them if the
// input will be reused.
type Decoder struct {
	b   []byte // the whole input
	off int    // read position in b
	err error  // first error, sticky
}

// NewDecoder returns a decoder reading b from its start.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns the first error so far, or nil.
func (d *Decoder) Err() error { return d.err }

// Fail records err as the decoder's error unless it has one already. A
// parser uses it for its own checks (an unknown type code, say) so that the
// first problem found is the one reported.
func (d *Decoder) Fail(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

// Offset returns the read position: how many bytes have been consumed.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

func (d *Decoder) failf(sentinel error, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w at offset %d: %s", sentinel, d.off, fmt.Sprintf(format, args...))
	}
}

// Raw reads the next n bytes, n fixed by the format. It returns nil only
// on error.
func (d *Decoder) Raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.Remaining() {
		d.failf(ErrTruncated, "need %d bytes, %d left", n, d.Remaining())
		return nil
	}
	if n == 0 {
		return []byte{} // nil only on error
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

// Fill reads exactly len(dst) bytes into dst; on error dst is left as is.
func (d *Decoder) Fill(dst []byte) { copy(dst, d.Raw(len(dst))) }

// Uint8 reads one byte.
func (d *Decoder) Uint8() uint8 {
	if v := d.Raw(1); v != nil {
		return v[0]
	}
	return 0
}

// Uint16 reads a big-endian uint16.
func (d *Decoder) Uint16() uint16 {
	if v := d.Raw(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

// Uint32 reads a big-endian uint32.
func (d *Decoder) Uint32() uint32 {
	if v := d.Raw(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// Uint64 reads a big-endian uint64.
func (d *Decoder) Uint64() uint64 {
	if v := d.Raw(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Uvarint reads a minimally encoded uvarint no larger than limit.
func (d *Decoder) Uvarint(limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Uvarint(d.b[d.off:])
	switch {
	case k == 0:
		d.failf(ErrTruncated, "uvarint not terminated")
	case k < 0:
		d.failf(ErrBadVarint, "overflows 64 bits")
	case k > 1 && d.b[d.off+k-1] == 0:
		d.failf(ErrNonMinimal, "%d bytes for %d", k, v)
	case v > limit:
		d.failf(ErrTooLong, "%d > %d", v, limit)
	}
	if d.err != nil {
		return 0
	}
	d.off += k
	return v
}

// Count reads a uvarint length or number of items, 0..limit. A negative
// limit is taken as 0.
func (d *Decoder) Count(limit int) int {
	return int(d.Uvarint(uint64(max(limit, 0))))
}

// Bytes reads a uvarint length of at most limit and that many bytes.
func (d *Decoder) Bytes(limit int) []byte { return d.Raw(d.Count(limit)) }

// String reads a field like Bytes and returns it as a string (a copy). It
// does not check the encoding; see Text.
func (d *Decoder) String(limit int) string { return string(d.Bytes(limit)) }

// Text reads a field like String and requires it to be valid UTF-8.
func (d *Decoder) Text(limit int) string {
	start := d.off
	v := d.Bytes(limit)
	if d.err == nil && !utf8.Valid(v) {
		d.off = start
		d.failf(ErrNotUTF8, "%d bytes", len(v))
		return ""
	}
	return string(v)
}

// Finish ends decoding: it returns the first error, or ErrTrailing if any
// byte is left unread, or nil.
func (d *Decoder) Finish() error {
	if d.err == nil && d.Remaining() != 0 {
		d.failf(ErrTrailing, "%d bytes after the last field", d.Remaining())
	}
	return d.err
}
