package callproto

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func idN(n int) CallID {
	var id CallID
	binary.BigEndian.PutUint64(id[8:], uint64(n)+1)
	return id
}

// replayStep is one call of Seen and its expected result.
type replayStep struct {
	id   int
	at   time.Duration // after testNow
	want bool
}

func TestReplayCache(t *testing.T) {
	tests := []struct {
		name  string
		steps []replayStep
	}{
		{"same ID twice", []replayStep{{1, 0, false}, {1, time.Second, true}, {2, time.Second, false}}},
		{"remembered for exactly ReplayWindow", []replayStep{{1, 0, false}, {1, ReplayWindow, true}}},
		{"forgotten after ReplayWindow", []replayStep{{1, 0, false}, {1, ReplayWindow + time.Nanosecond, false}, {1, ReplayWindow + time.Second, true}}},
		{"a replay does not extend the window", []replayStep{{1, 0, false}, {1, ReplayWindow - time.Second, true}, {1, ReplayWindow + time.Second, false}}},
		{"clock going backwards", []replayStep{{1, time.Minute, false}, {1, 0, true}, {2, -time.Hour, false}, {2, time.Minute, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ReplayCache // the zero value is usable
			for i, s := range tt.steps {
				if got := c.Seen(idN(s.id), testNow.Add(s.at)); got != s.want {
					t.Errorf("step %d: Seen(%d, +%v) = %v, want %v", i, s.id, s.at, got, s.want)
				}
			}
		})
	}
}

func TestReplayCacheCheck(t *testing.T) {
	c := NewReplayCache(0)
	if err := c.Check(idN(1), testNow); err != nil {
		t.Fatalf("first Check: %v", err)
	}
	if err := c.Check(idN(1), testNow); !errors.Is(err, ErrReplay) {
		t.Errorf("second Check: %v, want ErrReplay", err)
	}
}

// TestReplayAfterParse shows the intended use: an offer accepted once is
// refused when it comes again while its timestamp is still fresh.
func TestReplayAfterParse(t *testing.T) {
	p := signedPair(t)
	c := NewReplayCache(100)
	for i, want := range []bool{false, true} {
		now := testNow.Add(time.Duration(i) * TimeWindow)
		o, _, err := ParseOffer(p.offer, now)
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		if got := c.Seen(o.CallID, now); got != want {
			t.Errorf("delivery %d: Seen = %v, want %v", i, got, want)
		}
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := NewReplayCache(3)
	for i := range 4 {
		if c.Seen(idN(i), testNow) {
			t.Fatalf("fresh ID %d reported as replay", i)
		}
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
	// The oldest (0) was evicted; 1..3 are remembered. Asking for 0 records
	// it again and evicts 1.
	for _, s := range []struct {
		id   int
		want bool
	}{{3, true}, {2, true}, {0, false}, {1, false}} {
		if got := c.Seen(idN(s.id), testNow); got != s.want {
			t.Errorf("Seen(%d) = %v, want %v", s.id, got, s.want)
		}
	}

	var big ReplayCache
	for i := range MaxReplayEntries + 10 {
		big.Seen(idN(i), testNow)
	}
	if big.Len() != MaxReplayEntries {
		t.Errorf("zero-value cache holds %d, want %d", big.Len(), MaxReplayEntries)
	}
	if !big.Seen(idN(MaxReplayEntries+9), testNow) || big.Seen(idN(0), testNow) {
		t.Error("full cache did not evict the oldest entries first")
	}
	if n := len(big.order) - big.head; n != big.Len() {
		t.Errorf("queue holds %d live entries, map %d", n, big.Len())
	}
}

func TestReplayCacheExpiresInBulk(t *testing.T) {
	c := NewReplayCache(0)
	for i := range 1000 {
		c.Seen(idN(i), testNow)
	}
	c.Seen(idN(5000), testNow.Add(ReplayWindow+time.Second))
	if c.Len() != 1 {
		t.Errorf("Len = %d after the window passed, want 1", c.Len())
	}
	if cap(c.order) > 2048 {
		t.Errorf("queue capacity %d, not compacted", cap(c.order))
	}
}

func TestReplayCacheConcurrent(t *testing.T) {
	c := NewReplayCache(0)
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				// Every goroutine offers the same 500 IDs, in a different order.
				if !c.Seen(idN((i*7+g*131)%500), testNow) {
					fresh.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != 500 {
		t.Errorf("%d IDs reported fresh, want exactly 500", fresh.Load())
	}
}
