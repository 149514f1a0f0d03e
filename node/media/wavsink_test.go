package media

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

// TestWAVSinkRecordsPCMU: a PCMU tone recorded to WAV comes back as the
// same tone, 16-bit PCM at 8 kHz, with a lost packet as silence and a late
// one dropped (issue 16 item 4: a G.711 stream could not be recorded at
// all; only a daemon log line said so).
func TestWAVSinkRecordsPCMU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "call.wav")
	s, err := NewWAVSink(path)
	if err != nil {
		t.Fatal(err)
	}
	const hz, n = 1000.0, 160
	pkt := func(i int) *rtp.Packet {
		payload := make([]byte, n)
		for j := range payload {
			payload[j] = EncodeULaw(int16(8000 * math.Sin(2*math.Pi*hz*float64(i*n+j)/8000)))
		}
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(100 + i), Timestamp: uint32(5000 + i*n)}, Payload: payload}
	}
	for i := range 100 {
		if i == 40 {
			continue // lost: its 20 ms become silence
		}
		if err := s.WriteRTP(pkt(i)); err != nil {
			t.Fatal(err)
		}
		if i == 60 {
			if err := s.WriteRTP(pkt(50)); err != nil { // late: dropped
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if string(raw[:4]) != "RIFF" || string(raw[8:16]) != "WAVEfmt " || string(raw[36:40]) != "data" {
		t.Fatalf("not a WAV header: %q", raw[:44])
	}
	data := binary.LittleEndian.Uint32(raw[40:44])
	if want := uint32(100 * n * 2); data != want || len(raw) != 44+int(want) || binary.LittleEndian.Uint32(raw[4:8]) != 36+want {
		t.Fatalf("data size %d (file %d bytes), want %d: 100 packets of 20 ms, the lost one as silence", data, len(raw), want)
	}
	samples := make([]int16, data/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(raw[44+2*i:]))
	}
	silent := samples[40*n : 41*n]
	for _, v := range silent {
		if v != 0 {
			t.Fatal("the lost packet's place is not silence")
		}
	}
	// The tone, amplitude 8000, is back (µ-law keeps it within a few %).
	seg := samples[:40*n]
	norm := float64(len(seg)) / 2
	if amp := math.Sqrt(Goertzel(seg, hz, 8000)) / norm; math.Abs(amp-8000)/8000 > 0.05 {
		t.Errorf("recorded tone at %v Hz has amplitude %.0f, want about 8000", hz, amp)
	}
	// A player agrees, when ffprobe is there.
	if _, err := exec.LookPath("ffprobe"); err == nil {
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "pcm_s16le,8000,1" {
			t.Errorf("ffprobe: %q, %v", out, err)
		}
	}
}
