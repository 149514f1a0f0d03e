package turnsrv

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestParseChannelData(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		num  uint16
		data []byte
		ok   bool
	}{
		{"empty data", []byte{0x40, 0x00, 0, 0}, 0x4000, []byte{}, true},
		{"data", []byte{0x40, 0x01, 0, 3, 'a', 'b', 'c'}, 0x4001, []byte("abc"), true},
		{"padded", []byte{0x4f, 0xff, 0, 3, 'a', 'b', 'c', 0}, 0x4fff, []byte("abc"), true},
		{"RFC 5766 range", []byte{0x7f, 0xff, 0, 1, 'x'}, 0x7fff, []byte("x"), true},
		{"short header", []byte{0x40, 0x00, 0}, 0, nil, false},
		{"length past the end", []byte{0x40, 0x00, 0, 4, 'a', 'b', 'c'}, 0, nil, false},
		{"STUN message", []byte{0x00, 0x01, 0, 0}, 0, nil, false},
		{"number below range", []byte{0x3f, 0xff, 0, 0}, 0, nil, false},
		{"number above range", []byte{0x80, 0x00, 0, 0}, 0, nil, false},
	} {
		num, data, ok := parseChannelData(tc.in)
		if ok != tc.ok || num != tc.num || !bytes.Equal(data, tc.data) {
			t.Errorf("%s: got (%#x, %q, %v), want (%#x, %q, %v)", tc.name, num, data, ok, tc.num, tc.data, tc.ok)
		}
	}
}

// FuzzParseChannelData checks the parser of client datagrams against the
// rules of RFC 8656 section 12.4 on arbitrary input.
func FuzzParseChannelData(f *testing.F) {
	f.Add([]byte{0x40, 0x00, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		num, data, ok := parseChannelData(b)
		if !ok {
			if data != nil || num != 0 {
				t.Fatalf("refused input returned (%#x, %q)", num, data)
			}
			return
		}
		if len(b) < chanHeader || num != binary.BigEndian.Uint16(b) || num < 0x4000 || num > 0x7fff {
			t.Fatalf("accepted %x with number %#x", b, num)
		}
		if len(data) != int(binary.BigEndian.Uint16(b[2:])) || !bytes.Equal(data, b[chanHeader:chanHeader+len(data)]) {
			t.Fatalf("data %x does not match the header of %x", data, b)
		}
	})
}
