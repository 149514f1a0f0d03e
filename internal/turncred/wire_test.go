package turncred

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWire(t *testing.T) {
	creds := &Credentials{Username: "1700000000:12D3KooWabc", Password: "cGFzcw==", URLs: []string{"turn:192.0.2.1:3478?transport=udp", "stun:192.0.2.1:3478"}}
	tests := []struct {
		name string
		resp ResponseMsg
		hex  string // expected encoding, "" = not checked
		want error
	}{
		{"ok", ResponseMsg{Code: CodeOK, Creds: creds}, "0100" + "16313730303030303030303a313244334b6f6f57616263" + "086347467a63773d3d" +
			"02" + "217475726e3a3139322e302e322e313a333437383f7472616e73706f72743d756470" + "137374756e3a3139322e302e322e313a33343738", nil},
		{"rate limited", ResponseMsg{Code: CodeRateLimited, Message: "slow down"}, "010409736c6f7720646f776e", nil},
		{"refused", ResponseMsg{Code: CodeUnauthorized, Message: "certificate expired"}, "0102" + "1363657274696669636174652065787069726564", nil},
		{"unknown code", ResponseMsg{Code: 9, Message: "?"}, "", ErrMalformed},
		{"bad username", ResponseMsg{Code: CodeOK, Creds: &Credentials{Username: "nope", Password: "x"}}, "", ErrMalformed},
		{"empty password", ResponseMsg{Code: CodeOK, Creds: &Credentials{Username: "1:x"}}, "", ErrMalformed},
		{"too many URLs", ResponseMsg{Code: CodeOK, Creds: &Credentials{Username: "1:x", Password: "p", URLs: make([]string, MaxURLs+1)}}, "", ErrMalformed},
		{"long message", ResponseMsg{Code: CodeServer, Message: strings.Repeat("x", MaxMessageLen+1)}, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeResponse(tt.resp)
			if tt.hex != "" && hexOf(b) != tt.hex {
				t.Errorf("encoding %s, want %s", hexOf(b), tt.hex)
			}
			got, err := DecodeResponse(b)
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
			if _, err := DecodeResponse(append(b, 0)); !errors.Is(err, ErrMalformed) {
				t.Errorf("trailing byte: %v", err)
			}
			if _, err := DecodeResponse(b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
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
		{"ok", EncodeRequest(RequestMsg{[]byte("ac"), []byte("dc")}), nil},
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
			r, err := DecodeRequest(tt.in)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("DecodeRequest = %v, want %v", err, tt.want)
			}
			if err == nil && !bytes.Equal(EncodeRequest(r), tt.in) {
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
	f.Add(EncodeRequest(RequestMsg{[]byte("account"), []byte("device")}))
	f.Add([]byte{1, 0x82, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		b := EncodeRequest(r)
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs: %x vs %x", b, data)
		}
		r2, err := DecodeRequest(b)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(EncodeResponse(ResponseMsg{Code: CodeOK, Creds: &Credentials{Username: "1700000000:12D3KooWabc", Password: "cGFzcw==", URLs: []string{"stun:192.0.2.1:3478"}}}))
	f.Add(EncodeResponse(ResponseMsg{Code: CodeRateLimited, Message: "slow down"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResponse(data)
		if err != nil {
			return
		}
		b := EncodeResponse(r)
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoding differs: %x vs %x", b, data)
		}
		r2, err := DecodeResponse(b)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func TestCredentialsLogValue(t *testing.T) {
	var buf bytes.Buffer
	c := Credentials{Username: "1:x", Password: "hunter2-secret", URLs: []string{"stun:x"}}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("c", "creds", c)
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "1:x") {
		t.Fatalf("log line: %s", buf.String())
	}
}
