package media

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

func TestCodecByName(t *testing.T) {
	for _, c := range Codecs {
		for _, name := range []string{c.Name, strings.ToLower(c.Name), strings.ToUpper(c.Name)} {
			got, err := CodecByName(name)
			if err != nil || got != c {
				t.Errorf("CodecByName(%q) = %v, %v", name, got, err)
			}
		}
	}
	if _, err := CodecByName("H264"); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("CodecByName(H264) = %v, want ErrUnknownCodec", err)
	}
	if s := Opus.String(); s != "opus/48000/2" {
		t.Errorf("Opus.String() = %q", s)
	}
	if s := VP8.String(); s != "VP8/90000" {
		t.Errorf("VP8.String() = %q", s)
	}
}

func TestParseSource(t *testing.T) {
	dir := t.TempDir()
	ogg, _ := writePionOgg(t)
	ivf := filepath.Join(dir, "clip.IVF")
	if err := os.WriteFile(ivf, ivfBytes("VP90", 30, 1, []ivfFrame{{[]byte{1, 2, 3}, 0}}), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    string
		kind    Kind
		codec   Codec
		wantErr error
	}{
		{"tone", "tone", Audio, PCMU, nil},
		{"tone any kind", "tone:1000", "", PCMU, nil},
		{"tone frequency", "tone:697.5", Audio, PCMU, nil},
		{"tone bad number", "tone:loud", Audio, Codec{}, ErrBadSpec},
		{"tone out of range", "tone:5000", Audio, Codec{}, ErrBadTone},
		{"tone for video", "tone", Video, Codec{}, ErrKindMismatch},
		{"rtp default audio", "rtp://127.0.0.1:0", Audio, Opus, nil},
		{"rtp default video", "rtp://127.0.0.1:0", Video, VP8, nil},
		{"rtp codec", "rtp://localhost:0?codec=pcmu", Audio, PCMU, nil},
		{"rtp ipv6 loopback", "rtp://[::1]:0?codec=AV1", Video, AV1, nil},
		{"rtp wrong kind", "rtp://127.0.0.1:0?codec=vp9", Audio, Codec{}, ErrKindMismatch},
		{"rtp unknown codec", "rtp://127.0.0.1:0?codec=h264", Video, Codec{}, ErrUnknownCodec},
		{"rtp unknown parameter", "rtp://127.0.0.1:0?loop=1", Video, Codec{}, ErrBadSpec},
		{"rtp from sender", "rtp://127.0.0.1:0?codec=pcmu&from=127.0.0.1:5006", Audio, PCMU, nil},
		{"rtp from without port", "rtp://127.0.0.1:0?from=127.0.0.1", Audio, Codec{}, ErrBadSpec},
		{"rtp from port 0", "rtp://127.0.0.1:0?from=127.0.0.1:0", Audio, Codec{}, ErrBadSpec},
		{"rtp from twice", "rtp://127.0.0.1:0?from=127.0.0.1:1&from=127.0.0.1:2", Audio, Codec{}, ErrBadSpec},
		{"rtp no port", "rtp://127.0.0.1", Video, Codec{}, ErrBadSpec},
		{"rtp not loopback", "rtp://0.0.0.0:5004", Audio, Codec{}, ErrNotLoopback},
		{"ogg", ogg, Audio, Opus, nil},
		{"ogg looping", "loop:" + ogg, Audio, Opus, nil},
		{"ogg for video", ogg, Video, Codec{}, ErrKindMismatch},
		{"ivf by fourcc", ivf, Video, VP9, nil},
		{"ivf for audio", "loop:" + ivf, Audio, Codec{}, ErrKindMismatch},
		{"missing file", filepath.Join(dir, "none.opus"), Audio, Codec{}, os.ErrNotExist},
		{"unknown", "microphone", Audio, Codec{}, ErrBadSpec},
		{"empty", "", Audio, Codec{}, ErrBadSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := ParseSource(tt.spec, tt.kind)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseSource(%q) = %v, want %v", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSource(%q) = %v", tt.spec, err)
			}
			defer src.Close()
			if src.Codec() != tt.codec {
				t.Errorf("codec %v, want %v", src.Codec(), tt.codec)
			}
		})
	}
}

func TestParseSink(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		spec     string
		codec    Codec
		wantFile string // created in dir, if set
		wantErr  error
	}{
		{"default counter", "", Opus, "", nil},
		{"counter", "count", PCMU, "", nil},
		{"udp", "rtp://127.0.0.1:9", VP8, "", nil},
		{"udp not loopback", "rtp://192.0.2.1:9", VP8, "", ErrNotLoopback},
		{"udp with query", "rtp://127.0.0.1:9?x=1", VP8, "", ErrBadSpec},
		{"dir opus", filepath.Join(dir, "rec"), Opus, "rec/audio-opus.ogg", nil},
		{"dir vp8", filepath.Join(dir, "rec"), VP8, "rec/video-vp8.ivf", nil},
		{"dir av1", filepath.Join(dir, "rec2"), AV1, "rec2/video-av1.ivf", nil},
		{"dir pcmu", filepath.Join(dir, "rec"), PCMU, "rec/audio-pcmu.wav", nil},
		{"wav file", filepath.Join(dir, "w.wav"), PCMU, "w.wav", nil},
		// The other side chooses the codec: the stream goes to the same
		// name with the extension that holds it.
		{"wav file for opus", filepath.Join(dir, "v.wav"), Opus, "v.ogg", nil},
		{"ogg file for pcmu", filepath.Join(dir, "u.ogg"), PCMU, "u.wav", nil},
		{"ogg file", filepath.Join(dir, "x", "call.opus"), Opus, "x/call.opus", nil},
		{"ivf file", filepath.Join(dir, "y.ivf"), VP9, "y.ivf", nil},
		{"ogg file for vp8", filepath.Join(dir, "z.ogg"), VP8, "z.ivf", nil},
		{"ivf file for opus", filepath.Join(dir, "z2.ivf"), Opus, "z2.ogg", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSink(tt.spec, tt.codec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseSink(%q) = %v, want %v", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSink(%q) = %v", tt.spec, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tt.wantFile != "" {
				if _, err := os.Stat(filepath.Join(dir, tt.wantFile)); err != nil {
					t.Errorf("file not created: %v", err)
				}
			}
		})
	}
	if s, _ := ParseSink("count", Opus); s == nil {
		t.Fatal("no counter")
	} else if _, ok := s.(*Counter); !ok {
		t.Errorf("ParseSink(count) is a %T", s)
	}
}

// failSink fails every write.
type failSink struct{ closed bool }

var errFail = errors.New("fail")

func (f *failSink) WriteRTP(*rtp.Packet) error { return errFail }
func (f *failSink) Close() error               { f.closed = true; return errFail }

func TestTee(t *testing.T) {
	a, b := NewCounter(Opus), NewCounter(Opus)
	f := &failSink{}
	sinks := []Sink{a, f, b}
	tee := Tee(sinks...)
	sinks[0] = nil // Tee keeps its own copy
	p := &rtp.Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: []byte("xy")}
	if err := tee.WriteRTP(p); !errors.Is(err, errFail) {
		t.Errorf("WriteRTP = %v, want the failing sink's error", err)
	}
	if a.Stats().Packets != 1 || b.Stats().Packets != 1 {
		t.Errorf("sinks got %d and %d packets, want 1 each", a.Stats().Packets, b.Stats().Packets)
	}
	if err := tee.Close(); !errors.Is(err, errFail) || !f.closed {
		t.Errorf("Close = %v (closed %v)", err, f.closed)
	}
	if err := a.WriteRTP(p); !errors.Is(err, ErrClosed) {
		t.Errorf("a sink was not closed by the Tee")
	}
}
