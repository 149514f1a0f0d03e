package presence

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
)

// presenceVersions returns presence records of seq 1..n of one new
// device, and the Select of the Parley validator for its key.
func presenceVersions(t *testing.T, n int) (vals [][]byte, sel func([][]byte) (int, error)) {
	t.Helper()
	ak, err := pcrypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := pcrypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}
	now := time.Now()
	for seq := 1; seq <= n; seq++ {
		v, err := records.NewPresence(dk, ak.ID(), addrs, uint64(seq), time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	key := records.PresenceKey(dk.ID())
	v := records.Validator(nil)
	return vals, func(vs [][]byte) (int, error) { return v.Select(key, vs) }
}

// feed sends vals on ch in order, then closes it if closeAfter; it gives up
// when the test ends.
func feed(t *testing.T, ch chan<- []byte, closeAfter bool, vals ...[]byte) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for _, v := range vals {
			select {
			case ch <- v:
			case <-done:
				return
			}
		}
		if closeAfter {
			close(ch)
		}
	}()
}

// TestFirstBestNewestWins: within the grace the newest valid record wins,
// whatever the order records arrive in; invalid ones are skipped.
func TestFirstBestNewestWins(t *testing.T) {
	vs, sel := presenceVersions(t, 3)
	v1, v2, v3 := vs[0], vs[1], vs[2]
	garbage := []byte("not a record")
	for _, tc := range []struct {
		name string
		in   [][]byte
	}{
		{"stale first", [][]byte{v1, v2, v3}},
		{"newest first", [][]byte{v3, v1, v2}},
		{"newest in the middle", [][]byte{v2, v3, v1}},
		{"invalid ones skipped", [][]byte{garbage, v1, garbage, v3, garbage}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan []byte) // unbuffered: every send is seen before close
			feed(t, ch, true, tc.in...)
			// A grace longer than the test: only the close ends the wait.
			got, err := firstBest(context.Background(), ch, time.Hour, sel)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, v3) {
				t.Fatalf("got a record other than the newest (seq 3)")
			}
		})
	}
}

// TestFirstBestGraceEndsWait: once a valid record is held, a search that
// never ends (its other peers are silent) is waited for only the grace,
// not until the deadline.
func TestFirstBestGraceEndsWait(t *testing.T) {
	vs, sel := presenceVersions(t, 1)
	ch := make(chan []byte)
	feed(t, ch, false, vs[0]) // never closed: a silent peer still owes an answer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	got, err := firstBest(ctx, ch, 20*time.Millisecond, sel)
	if err != nil {
		t.Fatalf("err = %v after %v, want the grace to end the wait", err, time.Since(start))
	}
	if !bytes.Equal(got, vs[0]) {
		t.Fatal("wrong record")
	}
}

// TestFirstBestDeadline: with no valid record the wait ends at ctx's
// deadline, and an invalid record does not start the grace.
func TestFirstBestDeadline(t *testing.T) {
	_, sel := presenceVersions(t, 1)
	ch := make(chan []byte)
	feed(t, ch, false, []byte("not a record"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	got, err := firstBest(ctx, ch, time.Millisecond, sel)
	if got != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %d bytes, err %v; want nothing and the deadline", len(got), err)
	}

	// A closed search with nothing valid: no record and no error.
	closed := make(chan []byte)
	close(closed)
	if got, err := firstBest(context.Background(), closed, time.Hour, sel); got != nil || err != nil {
		t.Fatalf("closed search: got %d bytes, err %v", len(got), err)
	}
}
