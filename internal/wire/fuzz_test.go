package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// sentinels are the errors every decoding or framing error must wrap.
var sentinels = []error{ErrTruncated, ErrBadVarint, ErrNonMinimal, ErrTooLong, ErrTrailing, ErrNotUTF8, ErrFrameTooLarge, ErrFraming}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// schemaLimits are the limits a schema byte's high nibble picks.
var schemaLimits = [16]int{0, 1, 2, 3, 5, 8, 16, 32, 127, 128, 255, 300, 1 << 10, 1 << 14, 1 << 16, 1 << 20}

// decodeSchema reads one field per schema byte: the low nibble picks the
// kind, the high nibble the limit.
func decodeSchema(d *Decoder, schema []byte) []any {
	var vals []any
	for _, s := range schema {
		limit := schemaLimits[s>>4]
		var v any
		switch s & 0x0f % 10 {
		case 0:
			v = d.Uint8()
		case 1:
			v = d.Uint16()
		case 2:
			v = d.Uint32()
		case 3:
			v = d.Uint64()
		case 4:
			v = d.Uvarint(uint64(limit))
		case 5:
			v = d.Count(limit)
		case 6:
			v = d.Raw(min(limit, 64))
		case 7:
			v = d.Bytes(limit)
		case 8:
			v = d.String(limit)
		case 9:
			v = d.Text(limit)
		}
		vals = append(vals, v)
	}
	return vals
}

// encodeSchema writes the values decodeSchema read.
func encodeSchema(e *Encoder, schema []byte, vals []any) {
	for i, s := range schema {
		switch v := vals[i]; s & 0x0f % 10 {
		case 0:
			e.Uint8(v.(uint8))
		case 1:
			e.Uint16(v.(uint16))
		case 2:
			e.Uint32(v.(uint32))
		case 3:
			e.Uint64(v.(uint64))
		case 4:
			e.Uvarint(v.(uint64))
		case 5:
			e.Uvarint(uint64(v.(int)))
		case 6:
			e.Raw(v.([]byte))
		case 7:
			e.Bytes(v.([]byte))
		case 8, 9:
			e.String(v.(string))
		}
	}
}

// FuzzDecoder decodes data as the fields a schema names. A successful
// decode must re-encode to exactly data (one encoding per value) and decode
// again to the same values; a failure must wrap a sentinel, name its offset
// and leave the offset within the input.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x97, 0xb4}, []byte{7, 0x12, 0x34, 2, 'h', 'i', 0xac, 0x02})
	f.Add([]byte{0x02, 0x03, 0x56}, []byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5})
	f.Add([]byte{0xf4, 0x45, 0x58, 0x79}, []byte{0x80, 0x01, 3, 2, 'a', 'b', 4, 0xf0, 0x9f, 0x98, 0x80})
	f.Add([]byte{0xf4}, []byte{0x80, 0x00})
	f.Add([]byte{0xf7}, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, schema, data []byte) {
		if len(schema) > 64 {
			schema = schema[:64]
		}
		d := NewDecoder(data)
		vals := decodeSchema(d, schema)
		if err := d.Finish(); err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if d.Offset() > len(data) || d.Remaining() < 0 {
				t.Fatalf("offset %d, remaining %d of %d bytes", d.Offset(), d.Remaining(), len(data))
			}
			return
		}
		e := NewEncoder(nil)
		encodeSchema(e, schema, vals)
		if !bytes.Equal(e.Data(), data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", e.Data(), data)
		}
		d2 := NewDecoder(e.Data())
		vals2 := decodeSchema(d2, schema)
		if err := d2.Finish(); err != nil || !reflect.DeepEqual(vals, vals2) {
			t.Fatalf("re-decode: %v, %v vs %v", err, vals2, vals)
		}
	})
}

// readFrames reads frames until an error and returns the bodies, how many
// bytes the complete frames took and the error.
func readFrames(t *testing.T, f Framing, r io.Reader, total int, left func() int) ([][]byte, int, error) {
	var bodies [][]byte
	consumed := 0
	for {
		b, err := f.ReadFrame(r)
		if err != nil {
			return bodies, consumed, err
		}
		if len(b) > f.Max {
			t.Fatalf("body of %d bytes > max %d", len(b), f.Max)
		}
		bodies = append(bodies, b)
		consumed = total - left()
	}
}

// FuzzReadFrame reads frames from data until an error. Every body must fit
// the maximum, re-encoding the frames must give back the bytes they were
// read from, and reading those again (through a reader that is not an
// io.ByteReader) must give the same bodies.
func FuzzReadFrame(f *testing.F) {
	f.Add(uint8(0), uint16(5), []byte{5, 'h', 'e', 'l', 'l', 'o', 0})
	f.Add(uint8(0), uint16(300), []byte{0x80, 0x01})
	f.Add(uint8(0), uint16(5), []byte{0x85, 0x00})
	f.Add(uint8(1), uint16(5), []byte{0, 2, 'h', 'i', 0, 0})
	f.Add(uint8(2), uint16(5), []byte{0, 0, 0, 2, 'h', 'i', 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(0), uint16(0), []byte{0})
	f.Fuzz(func(t *testing.T, prefix uint8, limit uint16, data []byte) {
		fr := Framing{Prefix: Prefix(prefix % 4), Max: int(limit)}
		br := bytes.NewReader(data)
		bodies, consumed, err := readFrames(t, fr, br, len(data), br.Len)
		if err != io.EOF && !wrapsSentinel(err) {
			t.Fatalf("error %v is neither io.EOF nor a sentinel", err)
		}
		if (fr.Max == 0 || fr.Prefix > PrefixUint32) != errors.Is(err, ErrFraming) {
			t.Fatalf("framing %+v: %v", fr, err)
		}
		if errors.Is(err, ErrFraming) {
			return
		}
		pr := bytes.NewReader(data)
		plain, _, perr := readFrames(t, fr, struct{ io.Reader }{pr}, len(data), pr.Len)
		if !reflect.DeepEqual(plain, bodies) || (perr == io.EOF) != (err == io.EOF) {
			t.Fatalf("plain reader: %d frames, %v; byte reader: %d frames, %v", len(plain), perr, len(bodies), err)
		}
		var enc []byte
		for _, b := range bodies {
			if enc, err = fr.AppendFrame(enc, b); err != nil {
				t.Fatalf("AppendFrame of a frame read: %v", err)
			}
		}
		if !bytes.Equal(enc, data[:consumed]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, data[:consumed])
		}
		again, _, err := readFrames(t, fr, struct{ io.Reader }{bytes.NewReader(enc)}, len(enc), func() int { return 0 })
		if err != io.EOF || !reflect.DeepEqual(again, bodies) {
			t.Fatalf("re-read: %d frames, %v", len(again), err)
		}
	})
}
