package turncred

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWire(t *testing.T) {
	creds := &Credentials{Username: "1700000000:12D3KooWabc", Password: "cGFzcw==", URLs: []string{"turn:192.0.2.1:3478?transport=udp", "stun:192.0.2.1:3478"}}
	tests := []struct {
		name string
		resp response
		hex  string // expected encoding prefix, "" = not checked
		want error
	}{
		{"ok", response{Code: codeOK, Creds: creds}, "0100", nil},
		{"rate limited", response{Code: codeRateLimited, Message: "slow down"}, "010409736c6f7720646f776e", nil},
		{"refused", response{Code: codeUnauthorized, Message: "certificate expired"}, "0102", nil},
		{"unknown code", response{Code: 9, Message: "?"}, "", ErrMalformed},
		{"bad username", response{Code: codeOK, Creds: &Credentials{Username: "nope", Password: "x"}}, "", ErrMalformed},
		{"empty password", response{Code: codeOK, Creds: &Credentials{Username: "1:x"}}, "", ErrMalformed},
		{"too many URLs", response{Code: codeOK, Creds: &Credentials{Username: "1:x", Password: "p", URLs: make([]string, MaxURLs+1)}}, "", ErrMalformed},
		{"long message", response{Code: codeServer, Message: strings.Repeat("x", maxMessage+1)}, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeResponse(tt.resp)
			if tt.hex != "" && !strings.HasPrefix(hexOf(b), tt.hex) {
				t.Errorf("encoding %s does not start with %s", hexOf(b), tt.hex)
			}
			got, err := decodeResponse(b)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("decode: %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if tt.resp.Creds != nil {
				tt.resp.Creds.Expires = time.Unix(1700000000, 0)
			}
			if !reflect.DeepEqual(got, tt.resp) {
				t.Fatalf("round trip: %+v, want %+v", got, tt.resp)
			}
			if _, err := decodeResponse(append(b, 0)); !errors.Is(err, ErrMalformed) {
				t.Errorf("trailing byte: %v", err)
			}
			if _, err := decodeResponse(b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
				t.Errorf("truncated: %v", err)
			}
		})
	}
}

func TestRequestWire(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"ok", encodeRequest(request{[]byte("ac"), []byte("dc")}), nil},
		{"exact bytes", []byte{1, 2, 'a', 'c', 2, 'd', 'c'}, nil},
		{"version 2", []byte{2, 2, 'a', 'c', 2, 'd', 'c'}, ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"trailing", []byte{1, 2, 'a', 'c', 2, 'd', 'c', 0}, ErrMalformed},
		{"truncated", []byte{1, 2, 'a', 'c', 3, 'd', 'c'}, ErrMalformed},
		{"non-minimal varint", []byte{1, 0x82, 0x00, 'a', 'c', 2, 'd', 'c'}, ErrMalformed},
		{"empty cert", []byte{1, 0, 2, 'd', 'c'}, ErrMalformed},
		{"oversize", make([]byte, MaxRequestSize+1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeRequest(tt.in)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("decodeRequest = %v, want %v", err, tt.want)
			}
			if err == nil && !bytes.Equal(encodeRequest(r), tt.in) {
				t.Fatal("round trip differs")
			}
		})
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(encodeRequest(request{[]byte("account"), []byte("device")}))
	f.Add([]byte{1, 0x82, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRequest(data)
		if err != nil {
			return
		}
		b := encodeRequest(r)
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs: %x vs %x", b, data)
		}
		r2, err := decodeRequest(b)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(encodeResponse(response{Code: codeOK, Creds: &Credentials{Username: "1700000000:12D3KooWabc", Password: "cGFzcw==", URLs: []string{"stun:192.0.2.1:3478"}}}))
	f.Add(encodeResponse(response{Code: codeRateLimited, Message: "slow down"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			return
		}
		b := encodeResponse(r)
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs: %x vs %x", b, data)
		}
		r2, err := decodeResponse(b)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
