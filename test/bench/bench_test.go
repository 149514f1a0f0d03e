package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/media"
)

func TestParseBench(t *testing.T) {
	t.Parallel()
	out := []byte(`goos: linux
goarch: amd64
pkg: github.com/parleyhq/parley/node/calltransport
cpu: AMD EPYC 7B13
BenchmarkMediaPath/160B-2         	   61234	     19500 ns/op	   8.21 MB/s	     0 lost	     51282 pkts/s
BenchmarkMediaPath/1200B-2        	   40000	     25000 ns/op	  48.00 MB/s	     3.000 lost	     40000 pkts/s
BenchmarkRawSRTP/160B             	 1000000	      1000 ns/op	 160.00 MB/s	   1000000 pkts/s
BenchmarkBroken/x-2 	 notanumber	 1 ns/op
BenchmarkOdd-2 	 10	 1 ns/op	 2
PASS
ok  	github.com/parleyhq/parley/node/calltransport	5.1s
`)
	res, cpu := parseBench(out)
	if cpu != "AMD EPYC 7B13" {
		t.Errorf("cpu = %q", cpu)
	}
	tests := []struct {
		name, bench, unit string
		want              float64
	}{
		{"suffix removed", "BenchmarkMediaPath/160B", "pkts/s", 51282},
		{"custom metric", "BenchmarkMediaPath/1200B", "lost", 3},
		{"standard metric", "BenchmarkMediaPath/1200B", "ns/op", 25000},
		{"no suffix", "BenchmarkRawSRTP/160B", "pkts/s", 1e6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := res[tt.bench][tt.unit]
			if !ok || got != tt.want {
				t.Errorf("%s %s = %v, %v; want %v", tt.bench, tt.unit, got, ok, tt.want)
			}
		})
	}
	for _, bad := range []string{"BenchmarkBroken/x", "BenchmarkOdd"} {
		if _, ok := res[bad]; ok {
			t.Errorf("malformed line %s parsed: %v", bad, res[bad])
		}
	}
	if len(res) != 3 {
		t.Errorf("parsed %d results, want 3: %v", len(res), res)
	}
}

func TestTrimProcs(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"BenchmarkX-8", "BenchmarkX"},
		{"BenchmarkX/160B-2", "BenchmarkX/160B"},
		{"BenchmarkX/a-b", "BenchmarkX/a-b"},
		{"BenchmarkX", "BenchmarkX"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := trimProcs(tt.in); got != tt.want {
				t.Errorf("trimProcs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"plain", "1234 (parleyd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0 555 1000 200 18446744073709551615",
			287, false},
		{"name with spaces and parens", "99 (a) b (c) R 1 99 99 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1", 10, false},
		{"no name", "99 a R 1", 0, true},
		{"truncated", "99 (a) R 1 99 99 0 -1 0 0 0 0 0 7", 0, true},
		{"not a number", "99 (a) R 1 99 99 0 -1 0 0 0 0 0 x 3 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrStatFormat) {
					t.Fatalf("err = %v, want ErrStatFormat", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatCPU = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// TestProcReaders reads this process's own RSS and CPU time, and sees the
// CPU time grow with work.
func TestProcReaders(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	rss, err := rssKiB(pid)
	if err != nil || rss <= 0 {
		t.Fatalf("rssKiB = %d, %v", rss, err)
	}
	c0, err := cpuTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the clock-tick counter moves (bounded).
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		c1, err := cpuTime(pid)
		if err != nil {
			t.Fatal(err)
		}
		if c1 > c0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time did not grow from %v in 5 s of work (%d)", c0, x)
		}
	}
	if _, err := rssKiB(-1); err == nil {
		t.Error("rssKiB of a missing process: no error")
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name                  string
		in                    []time.Duration
		median, p95, min, max time.Duration
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"odd, unsorted", ms(5, 1, 3), 3 * time.Millisecond, 5 * time.Millisecond, time.Millisecond, 5 * time.Millisecond},
		{"even: mean of the middle", ms(4, 1, 2, 3), 2500 * time.Microsecond, 4 * time.Millisecond, time.Millisecond, 4 * time.Millisecond},
		{"p95 nearest rank of 20", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 100),
			10500 * time.Microsecond, 19 * time.Millisecond, time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tt.in...)
			s := summarize(tt.in)
			if s.median != tt.median || s.p95 != tt.p95 || s.min != tt.min || s.max != tt.max || s.n != len(tt.in) {
				t.Errorf("summarize = %+v, want median %v p95 %v min %v max %v", s, tt.median, tt.p95, tt.min, tt.max)
			}
			for i := range before {
				if before[i] != tt.in[i] {
					t.Fatal("summarize modified its input")
				}
			}
		})
	}
}

// TestSyntheticIVF reads the bench's video file with node/media's IVF
// source (the one parleyd uses) and checks that it is VP8 at the intended
// frame rate and that every frame comes out as marked RTP packets.
func TestSyntheticIVF(t *testing.T) {
	t.Parallel()
	const seconds = 2
	path := filepath.Join(t.TempDir(), "v.ivf")
	if err := writeSyntheticIVF(path, seconds); err != nil {
		t.Fatal(err)
	}
	src, err := media.OpenIVFWith(path, media.FileOptions{NoPacing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Codec() != media.VP8 {
		t.Fatalf("codec = %v, want VP8", src.Codec())
	}
	frames, packets := 0, 0
	var first, last uint32
	for {
		p, err := src.ReadRTP(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if packets == 0 {
			first = p.Timestamp
			// VP8 payload descriptor (RFC 7741): S bit set on a frame's
			// first packet; with a picture ID the descriptor is 4 bytes and
			// the frame tag follows, keyframe bit 0.
			if p.Payload[0]&0x10 == 0 || p.Payload[4]&0x01 != 0 {
				t.Errorf("first packet is not the start of a keyframe: % x", p.Payload[:8])
			}
		}
		packets++
		if p.Marker {
			frames++
			last = p.Timestamp
		}
	}
	if frames != seconds*videoFPS || packets <= frames {
		t.Errorf("%d frames in %d packets, want %d frames split into more packets", frames, packets, seconds*videoFPS)
	}
	if got, want := last-first, uint32((seconds*videoFPS-1)*90000/videoFPS); got != want {
		t.Errorf("timestamp span %d ticks, want %d (30 fps at 90 kHz)", got, want)
	}
}
