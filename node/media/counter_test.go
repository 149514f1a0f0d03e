package media

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestCounterSequences(t *testing.T) {
	tests := []struct {
		name      string
		seqs      []uint16
		lost      uint64
		dups      uint64
		reordered uint64
	}{
		{"in order", []uint16{1, 2, 3, 4}, 0, 0, 0},
		{"gap", []uint16{1, 2, 5, 6}, 2, 0, 0},
		{"duplicate", []uint16{1, 2, 2, 3}, 0, 1, 0},
		{"reordered fills the gap", []uint16{1, 3, 2, 4}, 0, 0, 1},
		{"late packet before the first", []uint16{10, 9, 11}, 0, 0, 1},
		{"wrap", []uint16{65534, 65535, 0, 1}, 0, 0, 0},
		{"loss across wrap", []uint16{65534, 0, 1}, 1, 0, 0},
		{"reorder across wrap", []uint16{65535, 1, 0, 2}, 0, 0, 1},
		{"duplicate across wrap", []uint16{65535, 0, 65535, 0}, 0, 2, 0},
		{"many wraps in order", func() (s []uint16) {
			for i := range 200000 {
				s = append(s, uint16(i))
			}
			return s
		}(), 0, 0, 0},
		{"big jump then very late packet", []uint16{1, 3000, 2}, 2997, 0, 1},
		// Beyond the 1024-packet window a duplicate cannot be told from a
		// late packet, so it is counted as one (and lowers Lost).
		{"duplicate of a very old packet is not known", []uint16{1, 2, 2000, 1}, 1996, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCounter(VP8)
			for _, s := range tt.seqs {
				if err := c.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}, Payload: []byte{1, 2, 3}}); err != nil {
					t.Fatal(err)
				}
			}
			st := c.Stats()
			if st.Lost != tt.lost || st.Duplicates != tt.dups || st.Reordered != tt.reordered {
				t.Errorf("lost %d, duplicates %d, reordered %d; want %d, %d, %d",
					st.Lost, st.Duplicates, st.Reordered, tt.lost, tt.dups, tt.reordered)
			}
			if st.Packets != uint64(len(tt.seqs)) || st.Bytes != 3*uint64(len(tt.seqs)) {
				t.Errorf("packets %d, bytes %d; want %d, %d", st.Packets, st.Bytes, len(tt.seqs), 3*len(tt.seqs))
			}
			if st.FirstAt.IsZero() || st.LastAt.Before(st.FirstAt) {
				t.Errorf("FirstAt %v, LastAt %v", st.FirstAt, st.LastAt)
			}
		})
	}
}

func TestCounterEmptyAndClosed(t *testing.T) {
	c := NewCounter(Opus)
	if st := c.Stats(); st != (Stats{}) {
		t.Errorf("empty Stats = %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteRTP(&rtp.Packet{}); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteRTP after Close = %v, want ErrClosed", err)
	}
}

func TestCounterDuplicatesAreNotAudio(t *testing.T) {
	c := NewCounter(PCMU)
	p := &rtp.Packet{Header: rtp.Header{SequenceNumber: 7}, Payload: make([]byte, 160)}
	_ = c.WriteRTP(p)
	_ = c.WriteRTP(p)
	if n := len(c.samples()); n != 160 {
		t.Errorf("buffered %d samples, want 160", n)
	}
}

func TestCounterConcurrent(t *testing.T) {
	c := NewCounter(PCMU)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				_ = c.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(g*500 + i)}, Payload: make([]byte, 160)})
				_ = c.Stats()
				if i%100 == 0 {
					c.DetectTone(toneCandidates)
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Packets != 2000 || st.Duplicates != 0 || st.Lost != 0 {
		t.Errorf("Stats = %+v, want 2000 packets, no loss or duplicates", st)
	}
}

// TestCounterGaps: silences of GapThreshold or more between packets are
// recorded, the latest MaxGaps of them, oldest first; shorter ones are not.
func TestCounterGaps(t *testing.T) {
	c := NewCounter(PCMU)
	t0 := time.Unix(1000, 0)
	at := t0
	seq := uint16(0)
	write := func(after time.Duration) {
		t.Helper()
		at = at.Add(after)
		if err := c.writeAt(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: []byte{0xff}}, at); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	write(0)
	write(20 * time.Millisecond)
	write(GapThreshold - time.Millisecond)
	if g := c.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v, want none below the threshold", g)
	}
	write(GapThreshold)
	write(750 * time.Millisecond)
	g := c.Gaps()
	if len(g) != 2 || g[0] != GapThreshold || g[1] != 750*time.Millisecond {
		t.Fatalf("gaps %v, want [%v 750ms]", g, GapThreshold)
	}
	g[0] = 0 // the caller's copy
	if c.Gaps()[0] != GapThreshold {
		t.Fatal("Gaps shares its slice with the counter")
	}
	for i := range MaxGaps + 3 {
		write(time.Second + time.Duration(i)*time.Millisecond)
	}
	g = c.Gaps()
	if len(g) != MaxGaps || g[0] != time.Second+3*time.Millisecond || g[MaxGaps-1] != time.Second+time.Duration(MaxGaps+2)*time.Millisecond {
		t.Fatalf("after %d more gaps: %d kept, first %v, last %v", MaxGaps+3, len(g), g[0], g[len(g)-1])
	}
}
