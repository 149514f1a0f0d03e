package media

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// vp8Frames returns synthetic VP8 frames: a 320x240 keyframe (real frame
// tag and start code), then interframes, some larger than MaxPayloadSize.
func vp8Frames() [][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	key := randomBytes(rng, 3000)
	copy(key, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}) // keyframe, 320x240
	var frames [][]byte
	frames = append(frames, key)
	for _, n := range []int{50, 2500, 1196, 1197, 4000} {
		f := randomBytes(rng, n)
		f[0] |= 0x01 // interframe
		frames = append(frames, f)
	}
	return frames
}

// av1Frames returns AV1 temporal units as IVF holds them: a temporal
// delimiter, then OBUs with size fields (sequence header + frame first).
func av1Frames() [][]byte {
	rng := rand.New(rand.NewPCG(5, 6))
	obu := func(typ byte, payload []byte) []byte {
		b := []byte{typ<<3 | 0x02}
		n := len(payload)
		for {
			c := byte(n & 0x7f)
			n >>= 7
			if n == 0 {
				b = append(b, c)
				break
			}
			b = append(b, c|0x80)
		}
		return append(b, payload...)
	}
	var frames [][]byte
	for i, n := range []int{3000, 200, 1500} {
		f := append([]byte{}, av1TemporalDelimiter...)
		if i == 0 {
			f = append(f, obu(1, randomBytes(rng, 12))...) // sequence header
		}
		f = append(f, obu(6, randomBytes(rng, n))...) // frame
		frames = append(frames, f)
	}
	return frames
}

func TestIVFRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		fourcc string
		codec  Codec
		frames [][]byte
	}{
		{"VP8", "VP80", VP8, vp8Frames()},
		{"VP9", "VP90", VP9, vp8Frames()[1:]}, // opaque to the flexible-mode fallback
		{"AV1", "AV01", AV1, av1Frames()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 30 fps time base, one frame skipped: pts 0, 1, 2, 4, ...
			var in []ivfFrame
			for i, f := range tt.frames {
				pts := uint64(i)
				if i >= 3 {
					pts++
				}
				in = append(in, ivfFrame{data: f, pts: pts})
			}
			src, err := OpenIVFWith(writeFile(t, "in.ivf", ivfBytes(tt.fourcc, 30, 1, in)), FileOptions{NoPacing: true})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.Codec() != tt.codec {
				t.Fatalf("Codec() = %v, want %v", src.Codec(), tt.codec)
			}
			pkts := readAll(t, src, 1000)
			checkVideoPackets(t, pkts, in, tt.codec)

			out := filepath.Join(t.TempDir(), "a", "b", "out.ivf")
			sink, err := NewIVFSink(out, tt.codec)
			if err != nil {
				t.Fatal(err)
			}
			// Swap two packets: the sink reorders.
			pkts[1], pkts[2] = pkts[2], pkts[1]
			for _, p := range pkts {
				if err := sink.WriteRTP(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			fourcc, w, h, rate, scale, count, got := parseIVFTest(t, b)
			if fourcc != tt.fourcc || rate != 90000 || scale != 1 || count != uint32(len(in)) {
				t.Errorf("header: %s rate %d scale %d count %d", fourcc, rate, scale, count)
			}
			if tt.codec == VP8 && (w != 320 || h != 240) {
				t.Errorf("header: %dx%d, want 320x240", w, h)
			}
			if len(got) != len(in) {
				t.Fatalf("sink wrote %d frames, want %d", len(got), len(in))
			}
			for i := range in {
				if !bytes.Equal(got[i].data, in[i].data) {
					t.Errorf("frame %d: %d bytes, differs from the %d-byte original", i, len(got[i].data), len(in[i].data))
				}
				if got[i].pts != in[i].pts*3000 {
					t.Errorf("frame %d: pts %d, want %d", i, got[i].pts, in[i].pts*3000)
				}
			}
			// pion's reader accepts the file too.
			r, hdr, err := ivfreader.NewWith(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if hdr.FourCC != tt.fourcc {
				t.Errorf("ivfreader FourCC %q", hdr.FourCC)
			}
			for i := range in {
				if f, _, err := r.ParseNextFrame(); err != nil || !bytes.Equal(f, in[i].data) {
					t.Errorf("ivfreader frame %d: err %v", i, err)
				}
			}
		})
	}
}

// checkVideoPackets checks the packetization of frames in.
func checkVideoPackets(t *testing.T, pkts []*rtp.Packet, in []ivfFrame, c Codec) {
	t.Helper()
	frame := 0
	for i, p := range pkts {
		if len(p.Payload) > MaxPayloadSize || len(p.Payload) == 0 {
			t.Errorf("packet %d: %d-byte payload", i, len(p.Payload))
		}
		if p.PayloadType != c.PayloadType || p.Version != 2 {
			t.Errorf("packet %d: PT %d version %d", i, p.PayloadType, p.Version)
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Errorf("packet %d: sequence not consecutive", i)
		}
		if frame >= len(in) {
			t.Fatalf("packet %d after the last frame's marker", i)
		}
		if want := uint32(in[frame].pts * 3000); p.Timestamp-pkts[0].Timestamp != want {
			t.Errorf("packet %d (frame %d): timestamp offset %d, want %d", i, frame, p.Timestamp-pkts[0].Timestamp, want)
		}
		if p.Marker {
			frame++
		}
	}
	if frame != len(in) {
		t.Errorf("%d markers, want one per frame (%d)", frame, len(in))
	}
	if len(pkts) <= len(in) {
		t.Errorf("%d packets for %d frames: large frames were not split", len(pkts), len(in))
	}
}

func TestIVFSinkLossAndKeyframe(t *testing.T) {
	frames := vp8Frames()
	var in []ivfFrame
	for i, f := range frames {
		in = append(in, ivfFrame{data: f, pts: uint64(i)})
	}
	src, err := OpenIVFWith(writeFile(t, "in.ivf", ivfBytes("VP80", 30, 1, in)), FileOptions{NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	pkts := readAll(t, src, 1000)
	src.Close()
	// Frame boundaries by marker.
	var byFrame [][]*rtp.Packet
	var cur []*rtp.Packet
	for _, p := range pkts {
		cur = append(cur, p)
		if p.Marker {
			byFrame, cur = append(byFrame, cur), nil
		}
	}

	t.Run("frame that lost a packet is dropped", func(t *testing.T) {
		m := &memFile{}
		sink, err := newIVFSink(m, VP8)
		if err != nil {
			t.Fatal(err)
		}
		for f, ps := range byFrame {
			for j, p := range ps {
				if f == 2 && j == 1 {
					continue // frame 2 (3 packets) loses its middle one
				}
				_ = sink.WriteRTP(p)
			}
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		_, _, _, _, _, count, got := parseIVFTest(t, m.b)
		if count != uint32(len(frames)-1) || len(got) != len(frames)-1 {
			t.Fatalf("wrote %d frames (header %d), want %d", len(got), count, len(frames)-1)
		}
		for i, j := range []int{0, 1, 3, 4, 5} {
			if !bytes.Equal(got[i].data, frames[j]) || got[i].pts != uint64(j*3000) {
				t.Errorf("output frame %d is not input frame %d", i, j)
			}
		}
	})
	t.Run("nothing before a keyframe", func(t *testing.T) {
		m := &memFile{}
		sink, _ := newIVFSink(m, VP8)
		for _, ps := range byFrame[1:] {
			for _, p := range ps {
				_ = sink.WriteRTP(p)
			}
		}
		_ = sink.Close()
		if _, _, _, _, _, count, got := parseIVFTest(t, m.b); count != 0 || len(got) != 0 {
			t.Errorf("wrote %d frames without a keyframe", len(got))
		}
	})
}

func TestOpenIVFLoopAndTimebase(t *testing.T) {
	// A 1/1000 s time base with pts 0, 40, 80 ms.
	frames := vp8Frames()[:3]
	in := []ivfFrame{{frames[0], 0}, {frames[1], 40}, {frames[2], 80}}
	src, err := OpenIVFWith(writeFile(t, "loop.ivf", ivfBytes("VP80", 1000, 1, in)), FileOptions{Loop: true, NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var stamps []uint32
	for _, p := range readAll(t, src, 40) {
		if p.Marker {
			stamps = append(stamps, p.Timestamp)
		}
	}
	if len(stamps) < 7 {
		t.Fatalf("only %d frames from a looping source", len(stamps))
	}
	// 40 ms = 3600 ticks between frames, and across the loop point too.
	for i := 1; i < len(stamps); i++ {
		if d := stamps[i] - stamps[i-1]; d != 3600 {
			t.Errorf("frame %d: timestamp advanced %d, want 3600", i, d)
		}
	}
}

func TestOpenIVFErrors(t *testing.T) {
	good := ivfBytes("VP80", 30, 1, []ivfFrame{{vp8Frames()[0], 0}, {vp8Frames()[1], 1}})
	huge := ivfBytes("VP80", 30, 1, []ivfFrame{{[]byte{1}, 0}})
	huge[32], huge[33], huge[34], huge[35] = 0xff, 0xff, 0xff, 0xff
	overflow := ivfBytes("VP80", 1, 1000, []ivfFrame{{[]byte{1}, 1 << 62}})
	tests := []struct {
		name     string
		file     []byte
		openErr  error
		readErr  error
		complete int
		loop     bool
	}{
		{"empty", nil, ErrBadIVF, nil, 0, false},
		{"bad signature", append([]byte("RIFF"), good[4:]...), ErrBadIVF, nil, 0, false},
		{"zero time base", ivfBytes("VP80", 0, 1, nil), ErrBadIVF, nil, 0, false},
		{"H.264 fourcc", ivfBytes("H264", 30, 1, nil), ErrUnsupportedCodec, nil, 0, false},
		{"no frames, looping", ivfBytes("AV01", 30, 1, nil), nil, nil, 0, true},
		{"huge frame size", huge, nil, ErrBadIVF, 0, false},
		{"pts overflow", overflow, nil, ErrBadIVF, 0, false},
		{"truncated last frame", good[:len(good)-10], nil, nil, 3, false},
		{"truncated last frame, looping", good[:len(good)-10], nil, nil, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := OpenIVFWith(writeFile(t, "x.ivf", tt.file), FileOptions{NoPacing: true, Loop: tt.loop})
			if !errors.Is(err, tt.openErr) || (tt.openErr == nil) != (err == nil) {
				t.Fatalf("OpenIVF = %v, want %v", err, tt.openErr)
			}
			if err != nil {
				return
			}
			defer src.Close()
			var n int
			for {
				if _, err = src.ReadRTP(t.Context()); err != nil {
					break
				}
				n++
				if n == 3*tt.complete {
					break // a looping source: enough
				}
			}
			if tt.loop && tt.complete > 0 {
				if n != 3*tt.complete {
					t.Errorf("looping source gave %d packets then %v", n, err)
				}
				return
			}
			if tt.readErr != nil && !errors.Is(err, tt.readErr) || tt.readErr == nil && !errors.Is(err, io.EOF) {
				t.Errorf("read ended with %v, want %v", err, tt.readErr)
			}
			if n != tt.complete {
				t.Errorf("read %d packets, want %d", n, tt.complete)
			}
		})
	}
}

func TestNewIVFSinkCodecs(t *testing.T) {
	for _, c := range []Codec{Opus, PCMU} {
		if _, err := NewIVFSink(filepath.Join(t.TempDir(), "x.ivf"), c); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("NewIVFSink(%v) = %v, want ErrUnsupportedCodec", c, err)
		}
	}
}

func TestOpenIVFPaced(t *testing.T) {
	// Four frames at 30 fps: the last is due 100 ms after the first, and
	// all packets of a frame go out together.
	var in []ivfFrame
	for i, f := range vp8Frames()[:4] {
		in = append(in, ivfFrame{data: f, pts: uint64(i)})
	}
	src, err := OpenIVF(writeFile(t, "paced.ivf", ivfBytes("VP80", 30, 1, in)), false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	if n := len(readAll(t, src, 100)); n < 4 {
		t.Fatalf("read %d packets", n)
	}
	if el := time.Since(start); el < 95*time.Millisecond || el > 3*time.Second {
		t.Errorf("4 frames at 30 fps took %v, want about 100 ms", el)
	}
}

func TestFrameAssemblerBounded(t *testing.T) {
	a := frameAssembler{dp: &codecs.VP8Packet{}}
	chunk := make([]byte, MaxPayloadSize)
	chunk[0] = 0x10 // S=1: the frame's first packet
	for i := range MaxIVFFrameSize/(MaxPayloadSize-1) + 10 {
		if _, _, _, ok := a.add(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: 7}, Payload: chunk}, false); ok {
			t.Fatal("frame completed without a marker")
		}
		chunk[0] = 0x00
		if len(a.data) > MaxIVFFrameSize {
			t.Fatalf("frame buffer grew to %d bytes", len(a.data))
		}
	}
	if _, _, _, ok := a.add(&rtp.Packet{Header: rtp.Header{Marker: true, Timestamp: 7}, Payload: chunk}, false); ok {
		t.Error("an oversized frame was completed")
	}
	// The next frame is fine again.
	data, ts, key, ok := a.add(&rtp.Packet{Header: rtp.Header{Marker: true, Timestamp: 8}, Payload: []byte{0x10, 0x00, 0x01}}, false)
	if !ok || ts != 8 || !key || !bytes.Equal(data, []byte{0x00, 0x01}) {
		t.Errorf("next frame: % x ts %d key %v ok %v", data, ts, key, ok)
	}
}
