package media

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var toneCandidates = []float64{300, 440, 700, 1000}

// feedTone writes d of an unpaced tone at freq into a new PCMU Counter.
func feedTone(t *testing.T, freq float64, d time.Duration) *Counter {
	t.Helper()
	src, err := NewTone(freq, ToneOptions{Duration: d, NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c := NewCounter(PCMU)
	for _, p := range readAll(t, src, 1000) {
		if err := c.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestToneDuration(t *testing.T) {
	src, err := NewTone(440, ToneOptions{Duration: time.Second, NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Codec(); got != PCMU {
		t.Errorf("Codec() = %v, want PCMU", got)
	}
	pkts := readAll(t, src, 1000)
	if len(pkts) != 50 {
		t.Fatalf("1 s of tone = %d packets, want 50", len(pkts))
	}
	for i, p := range pkts {
		if p.Version != 2 || p.PayloadType != 0 || len(p.Payload) != 160 {
			t.Fatalf("packet %d: version %d, PT %d, %d bytes", i, p.Version, p.PayloadType, len(p.Payload))
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v", i, p.Marker)
		}
		if i > 0 {
			if d := p.SequenceNumber - pkts[i-1].SequenceNumber; d != 1 {
				t.Errorf("packet %d: sequence advanced by %d", i, d)
			}
			if d := p.Timestamp - pkts[i-1].Timestamp; d != 160 {
				t.Errorf("packet %d: timestamp advanced by %d", i, d)
			}
		}
	}
	// A partial packet's worth rounds up; EOF stays EOF.
	src2, _ := NewTone(440, ToneOptions{Duration: 30 * time.Millisecond, NoPacing: true})
	if n := len(readAll(t, src2, 100)); n != 2 {
		t.Errorf("30 ms of tone = %d packets, want 2", n)
	}
	if _, err := src2.ReadRTP(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("ReadRTP after the end = %v, want io.EOF", err)
	}
}

func TestToneAmplitude(t *testing.T) {
	c := feedTone(t, 440, time.Second)
	var peak int16
	for _, x := range c.samples() {
		peak = max(peak, x, -x)
	}
	// -6 dBFS is 16384; µ-law quantization moves it by at most a step.
	if peak < 15800 || peak > 17000 {
		t.Errorf("tone peak = %d, want about 16384 (-6 dBFS)", peak)
	}
}

func TestDetectTone(t *testing.T) {
	tests := []struct {
		name       string
		freq       float64
		candidates []float64
		want       float64
		wantOK     bool
	}{
		{"440 among four", 440, toneCandidates, 440, true},
		{"1000 among four", 1000, toneCandidates, 1000, true},
		{"700 is not taken for 440", 700, toneCandidates, 700, true},
		{"300 among four", 300, toneCandidates, 300, true},
		{"tone not among candidates", 700, []float64{300, 440, 1000}, 0, false},
		{"no candidates", 440, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := feedTone(t, tt.freq, time.Second)
			got, ok := c.DetectTone(tt.candidates)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("DetectTone = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestDetectToneRejects(t *testing.T) {
	payloads := func(n int, gen func() byte) *Counter {
		c := NewCounter(PCMU)
		for i := range n {
			b := make([]byte, 160)
			for j := range b {
				b[j] = gen()
			}
			_ = c.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: b})
		}
		return c
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		c    *Counter
	}{
		{"silence", payloads(50, func() byte { return 0xFF })},
		{"loud noise", payloads(50, func() byte { return byte(rng.Uint32()) })},
		{"quiet noise", payloads(50, func() byte { return EncodeULaw(int16(rng.NormFloat64() * 300)) })},
		{"too short", func() *Counter {
			c := feedTone(t, 440, 80*time.Millisecond)
			return c
		}()},
		{"two tones mixed", func() *Counter {
			c := NewCounter(PCMU)
			for i := range 50 {
				b := make([]byte, 160)
				for j := range b {
					n := float64(i*160 + j)
					v := 8000*math.Sin(2*math.Pi*440*n/8000) + 8000*math.Sin(2*math.Pi*1000*n/8000)
					b[j] = EncodeULaw(int16(v))
				}
				_ = c.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: b})
			}
			return c
		}()},
		{"not PCMU", func() *Counter {
			c := NewCounter(Opus)
			src, _ := NewTone(440, ToneOptions{Duration: time.Second, NoPacing: true})
			for _, p := range readAll(t, src, 100) {
				_ = c.WriteRTP(p)
			}
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f, ok := tt.c.DetectTone(toneCandidates); ok {
				t.Errorf("DetectTone = %v, true; want no tone", f)
			}
		})
	}
}

func TestDetectToneKeepsLastSeconds(t *testing.T) {
	// 3 s of 300 Hz then 2 s of 1000 Hz: only the last 2 s count.
	c := NewCounter(PCMU)
	for _, f := range []float64{300, 1000} {
		d := 3 * time.Second
		if f == 1000 {
			d = 2 * time.Second
		}
		src, _ := NewTone(f, ToneOptions{Duration: d, NoPacing: true})
		for _, p := range readAll(t, src, 1000) {
			_ = c.WriteRTP(p)
		}
	}
	if f, ok := c.DetectTone(toneCandidates); !ok || f != 1000 {
		t.Errorf("DetectTone = %v, %v; want 1000, true", f, ok)
	}
}

func TestNewToneInvalid(t *testing.T) {
	for _, f := range []float64{0, -440, 4000, 9000, math.NaN(), math.Inf(1)} {
		if _, err := NewTone(f, ToneOptions{}); !errors.Is(err, ErrBadTone) {
			t.Errorf("NewTone(%v) = %v, want ErrBadTone", f, err)
		}
	}
	if _, err := NewTone(440, ToneOptions{Duration: -time.Second}); !errors.Is(err, ErrBadTone) {
		t.Errorf("NewTone with negative duration = %v, want ErrBadTone", err)
	}
}

func TestTonePacing(t *testing.T) {
	src, err := NewTone(440, ToneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	n := 0
	for time.Since(start) < time.Second {
		if _, err := src.ReadRTP(ctx); err != nil {
			t.Fatal(err)
		}
		n++
	}
	// 50 packets are due in a second; allow for a loaded machine.
	if n < 40 || n > 60 {
		t.Errorf("paced tone gave %d packets in 1 s, want about 50", n)
	}
}

func TestToneCancelAndClose(t *testing.T) {
	src, err := NewTone(440, ToneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ReadRTP(context.Background()); err != nil {
		t.Fatal(err) // the first packet is due at once
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.ReadRTP(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadRTP with a cancelled context = %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := src.ReadRTP(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("ReadRTP after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadRTP")
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
