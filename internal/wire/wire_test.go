package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncoder(t *testing.T) {
	tests := []struct {
		name string
		enc  func(e *Encoder)
		want string
	}{
		{"uint8", func(e *Encoder) { e.Uint8(7) }, "07"},
		{"uint16", func(e *Encoder) { e.Uint16(0x1234) }, "1234"},
		{"uint32", func(e *Encoder) { e.Uint32(0xdeadbeef) }, "deadbeef"},
		{"uint64", func(e *Encoder) { e.Uint64(1) }, "0000000000000001"},
		{"uvarint 0", func(e *Encoder) { e.Uvarint(0) }, "00"},
		{"uvarint 127", func(e *Encoder) { e.Uvarint(127) }, "7f"},
		{"uvarint 128", func(e *Encoder) { e.Uvarint(128) }, "8001"},
		{"uvarint 300", func(e *Encoder) { e.Uvarint(300) }, "ac02"},
		{"uvarint max", func(e *Encoder) { e.Uvarint(1<<64 - 1) }, "ffffffffffffffffff01"},
		{"raw", func(e *Encoder) { e.Raw([]byte{1, 2, 3}) }, "010203"},
		{"bytes", func(e *Encoder) { e.Bytes([]byte("hi")) }, "02 6869"},
		{"bytes empty", func(e *Encoder) { e.Bytes(nil) }, "00"},
		{"string", func(e *Encoder) { e.String("héllo") }, "06 68c3a96c6c6f"},
		{"message", func(e *Encoder) {
			e.Uint8(1)
			e.Uint16(2)
			e.String("ab")
			e.Uvarint(3)
		}, "01 0002 02 6162 03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEncoder(nil)
			tt.enc(e)
			if got, want := hex.EncodeToString(e.Data()), strings.ReplaceAll(tt.want, " ", ""); got != want {
				t.Errorf("encoded %s, want %s", got, want)
			}
			if e.Len() != len(e.Data()) {
				t.Errorf("Len %d, data %d bytes", e.Len(), len(e.Data()))
			}
		})
	}
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		dec     func(d *Decoder) any
		want    any
		wantErr error
	}{
		{"uint8", "07", func(d *Decoder) any { return d.Uint8() }, uint8(7), nil},
		{"uint16", "1234", func(d *Decoder) any { return d.Uint16() }, uint16(0x1234), nil},
		{"uint32", "deadbeef", func(d *Decoder) any { return d.Uint32() }, uint32(0xdeadbeef), nil},
		{"uint64", "0000000000000102", func(d *Decoder) any { return d.Uint64() }, uint64(0x102), nil},
		{"uint64 truncated", "00000000000001", func(d *Decoder) any { return d.Uint64() }, uint64(0), ErrTruncated},
		{"uvarint 300", "ac02", func(d *Decoder) any { return d.Uvarint(300) }, uint64(300), nil},
		{"uvarint max", "ffffffffffffffffff01", func(d *Decoder) any { return d.Uvarint(1<<64 - 1) }, uint64(1<<64 - 1), nil},
		{"uvarint above limit", "ac02", func(d *Decoder) any { return d.Uvarint(299) }, uint64(0), ErrTooLong},
		{"uvarint non-minimal zero", "8000", func(d *Decoder) any { return d.Uvarint(10) }, uint64(0), ErrNonMinimal},
		{"uvarint non-minimal one", "8180 00", func(d *Decoder) any { return d.Uvarint(10) }, uint64(0), ErrNonMinimal},
		{"uvarint unterminated", "ff", func(d *Decoder) any { return d.Uvarint(10) }, uint64(0), ErrTruncated},
		{"uvarint empty", "", func(d *Decoder) any { return d.Uvarint(10) }, uint64(0), ErrTruncated},
		{"uvarint overflow", "ffffffffffffffffff02", func(d *Decoder) any { return d.Uvarint(1<<64 - 1) }, uint64(0), ErrBadVarint},
		{"uvarint 11 bytes", "ffffffffffffffffffff01", func(d *Decoder) any { return d.Uvarint(1<<64 - 1) }, uint64(0), ErrBadVarint},
		{"count", "05", func(d *Decoder) any { return d.Count(5) }, 5, nil},
		{"count above limit", "06", func(d *Decoder) any { return d.Count(5) }, 0, ErrTooLong},
		{"count negative limit", "01", func(d *Decoder) any { return d.Count(-1) }, 0, ErrTooLong},
		{"raw", "010203", func(d *Decoder) any { return d.Raw(3) }, []byte{1, 2, 3}, nil},
		{"raw truncated", "0102", func(d *Decoder) any { return d.Raw(3) }, []byte(nil), ErrTruncated},
		{"raw negative", "0102", func(d *Decoder) any { return d.Raw(-1) }, []byte(nil), ErrTruncated},
		{"bytes", "02 6869", func(d *Decoder) any { return d.Bytes(2) }, []byte("hi"), nil},
		{"bytes empty", "00", func(d *Decoder) any { return d.Bytes(2) }, []byte{}, nil},
		{"raw zero of nothing", "", func(d *Decoder) any { return d.Raw(0) }, []byte{}, nil},
		{"bytes over limit", "03 686969", func(d *Decoder) any { return d.Bytes(2) }, []byte(nil), ErrTooLong},
		{"bytes truncated", "03 6869", func(d *Decoder) any { return d.Bytes(8) }, []byte(nil), ErrTruncated},
		{"bytes huge length", "ffffffff0f", func(d *Decoder) any { return d.Bytes(1 << 20) }, []byte(nil), ErrTooLong},
		{"string", "02 6869", func(d *Decoder) any { return d.String(2) }, "hi", nil},
		{"string not UTF-8 is fine", "01 ff", func(d *Decoder) any { return d.String(2) }, "\xff", nil},
		{"text", "06 68c3a96c6c6f", func(d *Decoder) any { return d.Text(6) }, "héllo", nil},
		{"text not UTF-8", "01 ff", func(d *Decoder) any { return d.Text(2) }, "", ErrNotUTF8},
		{"trailing", "0700", func(d *Decoder) any { return d.Uint8() }, uint8(7), ErrTrailing},
		{"fill", "0a0b", func(d *Decoder) any {
			var a [2]byte
			d.Fill(a[:])
			return a
		}, [2]byte{10, 11}, nil},
		{"sticky", "03 6869 07", func(d *Decoder) any {
			_ = d.Bytes(2) // fails: too long
			return d.Uint8()
		}, uint8(0), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(unhex(t, tt.in))
			got := tt.dec(d)
			err := d.Finish()
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Finish() = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "at offset") {
				t.Errorf("error %q does not name the offset", err)
			}
			if !equal(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func equal(a, b any) bool {
	ab, aok := a.([]byte)
	bb, bok := b.([]byte)
	if aok && bok {
		return bytes.Equal(ab, bb) && (ab == nil) == (bb == nil)
	}
	return a == b
}

func TestDecoderFail(t *testing.T) {
	errFirst, errSecond := errors.New("first"), errors.New("second")
	d := NewDecoder([]byte{1, 2})
	d.Fail(nil)
	if d.Err() != nil {
		t.Fatal("Fail(nil) recorded an error")
	}
	d.Fail(errFirst)
	d.Fail(errSecond)
	if v := d.Uint8(); v != 0 || d.Offset() != 0 || d.Remaining() != 2 {
		t.Fatalf("read after Fail: %d, offset %d, remaining %d", v, d.Offset(), d.Remaining())
	}
	if err := d.Finish(); err != errFirst {
		t.Fatalf("Finish() = %v, want the first error", err)
	}
}

// TestDecoderSlices checks that returned slices cannot be appended into the
// rest of the input.
func TestDecoderSlices(t *testing.T) {
	in := []byte{2, 'h', 'i', 7}
	d := NewDecoder(in)
	b := d.Bytes(2)
	if cap(b) != 2 {
		t.Fatalf("cap %d, want 2", cap(b))
	}
	_ = append(b, 'x')
	if d.Uint8() != 7 || d.Finish() != nil {
		t.Fatal("append to a returned slice changed the input")
	}
}

func TestFramingRead(t *testing.T) {
	tests := []struct {
		name    string
		f       Framing
		in      string
		want    string // body
		wantErr error
	}{
		{"uvarint", Framing{Max: 5}, "05 68656c6c6f", "68656c6c6f", nil},
		{"uvarint empty body", Framing{Max: 5}, "00", "", nil},
		{"uvarint two-byte prefix", Framing{Max: 200}, "8001" + strings.Repeat("61", 128), strings.Repeat("61", 128), nil},
		{"uvarint too large", Framing{Max: 4}, "05 68656c6c6f", "", ErrFrameTooLarge},
		{"uvarint huge prefix", Framing{Max: 1 << 20}, "ffffffff0f", "", ErrFrameTooLarge},
		{"uvarint non-minimal", Framing{Max: 5}, "8500 68656c6c6f", "", ErrNonMinimal},
		{"uvarint overflow", Framing{Max: 5}, "ffffffffffffffffff7f", "", ErrBadVarint},
		{"uvarint 11 bytes", Framing{Max: 5}, "ffffffffffffffffffff01", "", ErrBadVarint},
		{"uvarint prefix cut", Framing{Max: 500}, "80", "", ErrTruncated},
		{"body cut", Framing{Max: 5}, "05 6865", "", ErrTruncated},
		{"clean EOF", Framing{Max: 5}, "", "", io.EOF},
		{"uint16", Framing{Prefix: PrefixUint16, Max: 5}, "0005 68656c6c6f", "68656c6c6f", nil},
		{"uint16 too large", Framing{Prefix: PrefixUint16, Max: 5}, "0006 68656c6c6f21", "", ErrFrameTooLarge},
		{"uint16 prefix cut", Framing{Prefix: PrefixUint16, Max: 5}, "00", "", ErrTruncated},
		{"uint16 clean EOF", Framing{Prefix: PrefixUint16, Max: 5}, "", "", io.EOF},
		{"uint32", Framing{Prefix: PrefixUint32, Max: 5}, "00000002 6869", "6869", nil},
		{"uint32 too large", Framing{Prefix: PrefixUint32, Max: 5}, "ffffffff", "", ErrFrameTooLarge},
		{"no max", Framing{}, "00", "", ErrFraming},
		{"negative max", Framing{Max: -1}, "00", "", ErrFraming},
		{"uint16 max too large", Framing{Prefix: PrefixUint16, Max: 1 << 16}, "0000", "", ErrFraming},
		{"unknown prefix", Framing{Prefix: 9, Max: 5}, "00", "", ErrFraming},
	}
	for _, tt := range tests {
		for _, plain := range []bool{false, true} {
			name := tt.name
			if plain {
				name += " (no ByteReader)"
			}
			t.Run(name, func(t *testing.T) {
				var r io.Reader = bytes.NewReader(unhex(t, tt.in))
				if plain {
					r = struct{ io.Reader }{r}
				}
				got, err := tt.f.ReadFrame(r)
				if tt.wantErr == io.EOF {
					if err != io.EOF {
						t.Fatalf("ReadFrame() = %v, want io.EOF itself", err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("ReadFrame() = %v, want %v", err, tt.wantErr)
				}
				if errors.Is(err, ErrTruncated) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("truncation %v does not wrap io.ErrUnexpectedEOF", err)
				}
				if err == nil && hex.EncodeToString(got) != tt.want {
					t.Errorf("body %x, want %s", got, tt.want)
				}
			})
		}
	}
}

func TestFramingWrite(t *testing.T) {
	tests := []struct {
		name    string
		f       Framing
		body    string
		want    string
		wantErr error
	}{
		{"uvarint", Framing{Max: 5}, "68656c6c6f", "05 68656c6c6f", nil},
		{"uvarint empty", Framing{Max: 5}, "", "00", nil},
		{"uvarint 128", Framing{Max: 128}, strings.Repeat("61", 128), "8001" + strings.Repeat("61", 128), nil},
		{"uint16", Framing{Prefix: PrefixUint16, Max: 5}, "6869", "0002 6869", nil},
		{"uint32", Framing{Prefix: PrefixUint32, Max: 5}, "6869", "00000002 6869", nil},
		{"too large", Framing{Max: 4}, "68656c6c6f", "", ErrFrameTooLarge},
		{"no max", Framing{}, "", "", ErrFraming},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := unhex(t, tt.body)
			got, err := tt.f.AppendFrame([]byte{0xaa}, body)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("AppendFrame() = %v, want %v", err, tt.wantErr)
			}
			var w bytes.Buffer
			werr := tt.f.WriteFrame(&w, body)
			if !errors.Is(werr, tt.wantErr) {
				t.Fatalf("WriteFrame() = %v, want %v", werr, tt.wantErr)
			}
			if err != nil {
				if !bytes.Equal(got, []byte{0xaa}) || w.Len() != 0 {
					t.Errorf("refused frame still written: %x, %x", got, w.Bytes())
				}
				return
			}
			want := "aa" + strings.ReplaceAll(tt.want, " ", "")
			if hex.EncodeToString(got) != want {
				t.Errorf("AppendFrame %x, want %s", got, want)
			}
			if hex.EncodeToString(w.Bytes()) != want[2:] {
				t.Errorf("WriteFrame %x, want %s", w.Bytes(), want[2:])
			}
		})
	}
}

func TestFrameHelpers(t *testing.T) {
	var w bytes.Buffer
	if err := WriteFrame(&w, []byte("one"), 3); err != nil {
		t.Fatal(err)
	}
	b, err := AppendFrame(w.Bytes(), []byte("two"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&w, []byte("four"), 3); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteFrame of 4 bytes, max 3: %v", err)
	}
	// A reader that is not an io.ByteReader must not consume the next frame.
	r := struct{ io.Reader }{bytes.NewReader(b)}
	for _, want := range []string{"one", "two"} {
		got, err := ReadFrame(r, 3)
		if err != nil || string(got) != want {
			t.Fatalf("ReadFrame = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadFrame(r, 3); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// TestReadFrameAllocatesAsBytesArrive sends a prefix claiming the maximum
// and only a few bytes of body: the reader must not allocate the claimed
// size.
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	const limit = 16 << 20
	in := append(uvarintBytes(limit), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(bytes.NewReader(in), limit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("ReadFrame = %v, want ErrTruncated", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes for a frame of 100 bytes claiming %d", grew, limit)
	}
}

// TestReadFrameLarge reads a frame larger than the growth chunk.
func TestReadFrameLarge(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 3*growChunk/16+1)
	b, err := AppendFrame(nil, body, len(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrame(bytes.NewReader(b), len(body))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("ReadFrame of %d bytes: %v, equal %v", len(body), err, bytes.Equal(got, body))
	}
}

// errReader fails every read.
type errReader struct{}

var errBroken = errors.New("broken")

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func TestFramingReadError(t *testing.T) {
	for _, p := range []Prefix{PrefixUvarint, PrefixUint16, PrefixUint32} {
		_, err := Framing{Prefix: p, Max: 5}.ReadFrame(errReader{})
		if !errors.Is(err, errBroken) {
			t.Errorf("prefix %d: %v, want the reader's error", p, err)
		}
	}
	_, err := ReadFrame(io.MultiReader(bytes.NewReader([]byte{5, 'a'}), errReader{}), 5)
	if !errors.Is(err, errBroken) {
		t.Errorf("body: %v, want the reader's error", err)
	}
	if err := WriteFrame(failWriter{}, []byte("x"), 5); !errors.Is(err, errBroken) {
		t.Errorf("write: %v, want the writer's error", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBroken }

// uvarintBytes returns v as a uvarint.
func uvarintBytes(v uint64) []byte {
	e := NewEncoder(nil)
	e.Uvarint(v)
	return e.Data()
}
