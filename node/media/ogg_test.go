package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// Synthetic Opus packets: real TOC bytes (so durations are known), filler
// after. Durations are in 48 kHz samples.
var opusTestPackets = []struct {
	toc byte
	dur uint32
}{
	{0xF8, 960},  // CELT FB 20 ms, one frame
	{0xE8, 240},  // CELT FB 5 ms
	{0x68, 960},  // hybrid FB 20 ms
	{0x18, 2880}, // SILK NB 60 ms
	{0xF9, 1920}, // CELT FB 20 ms, two frames (code 1)
	{0x08, 960},  // SILK NB 20 ms
	{0xF8, 960},
}

func TestOpusPacketSamples(t *testing.T) {
	for _, p := range opusTestPackets {
		if got := opusPacketSamples([]byte{p.toc, 0}); got != int(p.dur) {
			t.Errorf("opusPacketSamples(%#02x) = %d, want %d", p.toc, got, p.dur)
		}
	}
	tests := []struct {
		name string
		p    []byte
		want int
	}{
		{"empty", nil, 0},
		{"code 3 without count", []byte{0xFB}, 0},
		{"code 3, 3 frames of 20 ms", []byte{0xFB, 3}, 2880},
		{"code 3, over 120 ms", []byte{0xFB, 7}, 0},
		{"code 3, zero frames", []byte{0xFB, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := opusPacketSamples(tt.p); got != tt.want {
				t.Errorf("opusPacketSamples(% x) = %d, want %d", tt.p, got, tt.want)
			}
		})
	}
}

// writePionOgg writes the test packets with pion's oggwriter (one packet per
// page, granule positions from the TOC) and returns the path and payloads.
func writePionOgg(t *testing.T) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.ogg")
	w, err := oggwriter.New(path, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for i, p := range opusTestPackets {
		b := opusPacket(p.toc, 20+i*7, byte(i))
		payloads = append(payloads, b)
		if err := w.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, payloads
}

func TestOpenOggPionFile(t *testing.T) {
	path, payloads := writePionOgg(t)
	src, err := OpenOggWith(path, FileOptions{NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Codec() != Opus {
		t.Errorf("Codec() = %v", src.Codec())
	}
	pkts := readAll(t, src, 100)
	if len(pkts) != len(payloads) {
		t.Fatalf("read %d packets, want %d", len(pkts), len(payloads))
	}
	var start uint32 // expected offset of packet i: the durations before it
	for i, p := range pkts {
		if !bytes.Equal(p.Payload, payloads[i]) {
			t.Errorf("packet %d payload differs", i)
		}
		if got := p.Timestamp - pkts[0].Timestamp; got != start {
			t.Errorf("packet %d: timestamp offset %d, want %d", i, got, start)
		}
		if p.SequenceNumber != pkts[0].SequenceNumber+uint16(i) || p.PayloadType != Opus.PayloadType || p.Marker {
			t.Errorf("packet %d: seq %d PT %d marker %v", i, p.SequenceNumber, p.PayloadType, p.Marker)
		}
		start += opusTestPackets[i].dur
	}
}

// muxedOgg is an Ogg file laid out the way real muxers do it: several
// packets per page, a packet spanning pages, a page with no packet end
// (granule -1), and a second logical stream that must be skipped.
func muxedOgg() (file []byte, payloads [][]byte, pts []int64) {
	const opus, other = 0x1234, 0x9999
	var m oggMux
	m.packets(opus, oggFlagBOS, 0, opusHead())
	m.packets(other, oggFlagBOS, 0, []byte("\x80theora-ish header"))
	m.packets(opus, 0, 0, opusTags())
	m.packets(other, 0, 5, []byte("other stream data"))

	p := func(toc byte, n int, fill byte) []byte {
		b := opusPacket(toc, n, fill)
		payloads = append(payloads, b)
		return b
	}
	a, b, c := p(0xF8, 100, 1), p(0xE8, 80, 2), p(0x68, 120, 3)
	// Page 1: three whole packets, ending at 312 (pre-skip) + 960+240+960.
	g1 := int64(312 + 960 + 240 + 960)
	m.packets(opus, 0, uint64(g1), a, b, c)
	pts = append(pts, g1-2160, g1-1200, g1-960)

	// A 600-byte packet split over pages 2 (no packet ends: granule -1)
	// and 3, followed on page 3 by a short packet.
	long, short := p(0x18, 600, 4), p(0xF8, 50, 5)
	m.page(opus, 0, oggNoGranule, []byte{255, 255}, long[:510])
	g3 := g1 + 2880 + 960
	segs := append([]byte{90}, lacing(len(short))...)
	m.page(opus, oggFlagContinued, uint64(g3), segs, append(append([]byte{}, long[510:]...), short...))
	pts = append(pts, g1, g1+2880)

	// Last page, marked EOS.
	last := p(0xF9, 70, 6)
	m.packets(opus, oggFlagEOS, uint64(g3+1920), last)
	pts = append(pts, g3)
	return m.buf.Bytes(), payloads, pts
}

func TestOpenOggMuxed(t *testing.T) {
	file, payloads, pts := muxedOgg()
	src, err := OpenOggWith(writeFile(t, "muxed.opus", file), FileOptions{NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pkts := readAll(t, src, 100)
	if len(pkts) != len(payloads) {
		t.Fatalf("read %d packets, want %d", len(pkts), len(payloads))
	}
	for i, p := range pkts {
		if !bytes.Equal(p.Payload, payloads[i]) {
			t.Errorf("packet %d: payload % x..., want % x...", i, p.Payload[:4], payloads[i][:4])
		}
		if got, want := int64(p.Timestamp-pkts[0].Timestamp), pts[i]-pts[0]; got != want {
			t.Errorf("packet %d: timestamp offset %d, want %d", i, got, want)
		}
	}
}

func TestOpenOggLoop(t *testing.T) {
	path, payloads := writePionOgg(t)
	src, err := OpenOggWith(path, FileOptions{Loop: true, NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n := len(payloads)
	pkts := readAll(t, src, 2*n+2)
	if len(pkts) != 2*n+2 {
		t.Fatalf("looping source ended after %d packets", len(pkts))
	}
	for i := 1; i < len(pkts); i++ {
		want := opusTestPackets[(i-1)%n].dur
		if got := pkts[i].Timestamp - pkts[i-1].Timestamp; got != want {
			t.Errorf("packet %d: timestamp advanced %d, want %d", i, got, want)
		}
		if pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Errorf("packet %d: sequence not consecutive", i)
		}
		if !bytes.Equal(pkts[i].Payload, payloads[i%n]) {
			t.Errorf("packet %d: payload differs", i)
		}
	}
}

func TestOpenOggPaced(t *testing.T) {
	// Ten 20 ms packets: the last is due 180 ms after the first.
	var m oggMux
	m.packets(1, oggFlagBOS, 0, opusHead())
	m.packets(1, 0, 0, opusTags())
	for i := range 10 {
		m.packets(1, 0, uint64(312+960*(i+1)), opusPacket(0xF8, 30, byte(i)))
	}
	src, err := OpenOgg(writeFile(t, "paced.ogg", m.buf.Bytes()), false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	if n := len(readAll(t, src, 100)); n != 10 {
		t.Fatalf("read %d packets, want 10", n)
	}
	if el := time.Since(start); el < 175*time.Millisecond || el > 3*time.Second {
		t.Errorf("10 paced 20 ms packets took %v, want about 180 ms", el)
	}
}

func TestOpenOggErrors(t *testing.T) {
	good, _, _ := muxedOgg()
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-3] ^= 0xFF // in the last page's body: CRC fails
	var noOpus oggMux
	noOpus.packets(1, oggFlagBOS, 0, []byte("\x01vorbis-ish"))
	noOpus.packets(1, 0, 0, []byte("data"))
	var badHead oggMux
	badHead.packets(1, oggFlagBOS, 0, []byte("OpusHead\x01"))

	tests := []struct {
		name     string
		file     []byte
		openErr  error // from OpenOgg
		readErr  error // from reading to the end
		complete int   // packets read before readErr
	}{
		{"empty file", nil, ErrBadOgg, nil, 0},
		{"not ogg", []byte("RIFF....WAVEfmt definitely not an ogg file"), ErrBadOgg, nil, 0},
		{"no opus stream", noOpus.buf.Bytes(), ErrBadOgg, nil, 0},
		{"malformed OpusHead", badHead.buf.Bytes(), ErrBadOgg, nil, 0},
		{"crc mismatch on last page", corrupt, nil, ErrBadOgg, 5},
		{"truncated file plays what is complete", good[:len(good)-20], nil, nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := OpenOggWith(writeFile(t, "x.ogg", tt.file), FileOptions{NoPacing: true})
			if !errors.Is(err, tt.openErr) || (tt.openErr == nil) != (err == nil) {
				t.Fatalf("OpenOgg = %v, want %v", err, tt.openErr)
			}
			if err != nil {
				return
			}
			defer src.Close()
			var n int
			for {
				_, err = src.ReadRTP(context.Background())
				if err != nil {
					break
				}
				n++
			}
			if tt.readErr == nil && !errors.Is(err, io.EOF) || tt.readErr != nil && !errors.Is(err, tt.readErr) {
				t.Errorf("read ended with %v, want %v", err, tt.readErr)
			}
			if n != tt.complete {
				t.Errorf("read %d packets, want %d", n, tt.complete)
			}
		})
	}
	if _, err := OpenOgg(filepath.Join(t.TempDir(), "missing.ogg"), false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenOgg(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestOggSinkRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "out.ogg")
	sink, err := NewOggSink(path)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i, p := range opusTestPackets {
		b := opusPacket(p.toc, 40+i, byte(0x40+i))
		want = append(want, b)
		if err := sink.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(65533 + i), Timestamp: uint32(i * 960)}, Payload: b}); err != nil {
			t.Fatal(err)
		}
		if i == 3 { // a duplicate and a late packet are dropped
			_ = sink.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(65533 + i)}, Payload: b})
			_ = sink.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(65533 + i - 2)}, Payload: want[1]})
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := sink.WriteRTP(&rtp.Packet{Payload: want[0]}); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRTP after Close = %v, want ErrClosed", err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, head, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	if head.Channels != 2 || head.SampleRate != 48000 {
		t.Errorf("OpusHead: %d channels, %d Hz", head.Channels, head.SampleRate)
	}
	var got [][]byte
	var granule uint64
	for {
		payload, ph, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(payload, []byte("OpusTags")) {
			continue
		}
		got = append(got, payload)
		granule += uint64(opusTestPackets[len(got)-1].dur)
		if ph.GranulePosition != granule {
			t.Errorf("page %d: granule %d, want %d", len(got), ph.GranulePosition, granule)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("file has %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("packet %d differs", i)
		}
	}

	// And the package's own reader agrees.
	src, err := OpenOggWith(path, FileOptions{NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if n := len(readAll(t, src, 100)); n != len(want) {
		t.Errorf("OpenOgg read %d packets back, want %d", n, len(want))
	}
}

func TestFileSourceCancelAndClose(t *testing.T) {
	// The second packet is due 3 s after the first.
	var m oggMux
	m.packets(1, oggFlagBOS, 0, opusHead())
	m.packets(1, 0, 0, opusTags())
	m.packets(1, 0, 960, opusPacket(0xF8, 30, 1))
	m.packets(1, 0, 960+3*48000, opusPacket(0xF8, 30, 2))
	src, err := OpenOgg(writeFile(t, "gap.ogg", m.buf.Bytes()), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ReadRTP(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := src.ReadRTP(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadRTP with expiring context = %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := src.ReadRTP(context.Background())
		done <- err
	}()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("ReadRTP after Close = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock a paced ReadRTP")
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
