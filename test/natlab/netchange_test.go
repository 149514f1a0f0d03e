package natlab

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// movesEnv sets how many times each host goes away and back in
// TestNetworkChangeMidCall (default 2: eight moves).
const movesEnv = "PARLEY_NATLAB_MOVES"

// TestNetworkChangeMidCall: the caller's host and then the callee's move
// to another site mid-call (their interface goes down and one on another
// NATed LAN comes up: a new address behind another kind of NAT) and back,
// while media flows. Each time the call must go on, through an ICE restart
// signalled over a new libp2p connection, with no user action; the media
// gap each end hears is measured. The median must be at most 1 s.
func TestNetworkChangeMidCall(t *testing.T) {
	t.Parallel()
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv(movesEnv)); err == nil && v > 0 {
		rounds = v
	}
	skipUnsupported(t)
	b := labBinaries(t)
	// 1: the caller's home (cone), 2: the callee's home (cone), 3: where
	// the caller goes (symmetric), 4: where the callee goes (none: a
	// public address).
	l := newLab(t, SiteConfig{Kind: Cone}, SiteConfig{Kind: Cone}, SiteConfig{Kind: Symmetric}, SiteConfig{Kind: None})
	logOnFailure(t, l)
	sites := l.Sites()
	s, err := StartPair(t.Context(), l, sites[0], sites[1], SessionOptions{Bins: b, Dir: t.TempDir(), LogLevel: os.Getenv("PARLEY_NATLAB_LOG_LEVEL")})
	if err != nil {
		t.Fatal(err)
	}
	var moves []Move
	for range rounds {
		moves = append(moves,
			Move{Host: sites[0], To: sites[2], Who: "caller"}, Move{Host: sites[0], To: sites[0], Who: "caller"},
			Move{Host: sites[1], To: sites[3], Who: "callee"}, Move{Host: sites[1], To: sites[1], Who: "callee"})
	}
	_, res, err := s.RunMoves(t.Context(), Cone, Cone, moves, 2*time.Second)
	for _, r := range res {
		t.Logf("%s → site %d (%v): gap at the caller %v, at the callee %v; media both ways after %v; path %s",
			r.Who, r.To.Index, r.To.Kind, r.CallerGap.Round(time.Millisecond), r.CalleeGap.Round(time.Millisecond),
			r.Resumed.Round(time.Millisecond), pathText(r.Path))
	}
	if err != nil {
		t.Fatal(err)
	}
	var gaps []time.Duration
	for _, r := range res {
		gaps = append(gaps, r.CallerGap, r.CalleeGap)
	}
	slices.Sort(gaps)
	med := gaps[len(gaps)/2]
	t.Logf("gaps over %d moves, both ends: min %v, median %v, max %v", len(res), gaps[0].Round(time.Millisecond),
		med.Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
	if med > time.Second {
		t.Errorf("median media gap %v, want at most 1 s", med)
	}
}

// logOnFailure logs the output of the lab's processes if the test fails.
func logOnFailure(t *testing.T, l *Lab) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range l.Procs() {
				t.Logf("--- output of %v:\n%s", p, p.Output())
			}
		}
	})
}

// failoversEnv sets how many failovers TestRelayFailover measures
// (default 2).
const failoversEnv = "PARLEY_NATLAB_FAILOVERS"

// TestRelayFailover: a call that can only be relayed (UDP-blocked caller,
// symmetric callee) with two bootstraps; the bootstrap whose TURN server
// relays it is killed mid-call. The call must move to the other
// bootstrap's TURN server with a media gap of at most 2 s at both ends.
// Each run has a lab of its own (a killed bootstrap stays down).
func TestRelayFailover(t *testing.T) {
	t.Parallel()
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv(failoversEnv)); err == nil && v > 0 {
		rounds = v
	}
	skipUnsupported(t)
	b := labBinaries(t)
	var gaps []time.Duration
	for i := range rounds {
		r := t.Run(fmt.Sprintf("run%d", i+1), func(t *testing.T) {
			o := labOptions(t, SiteConfig{Kind: UDPBlocked}, SiteConfig{Kind: Symmetric})
			o.SecondServer = true
			l, err := Up(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := l.Down(); err != nil {
					t.Errorf("lab down: %v", err)
				}
			})
			logOnFailure(t, l)
			s, err := StartPair(t.Context(), l, l.Sites()[0], l.Sites()[1], SessionOptions{Bins: b, Dir: t.TempDir(), LogLevel: os.Getenv("PARLEY_NATLAB_LOG_LEVEL")})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.RunFailover(t.Context(), UDPBlocked, Symmetric, 2*time.Second)
			t.Logf("killed the bootstrap at %v; gap at the caller %v, at the callee %v; media both ways after %v; path %s → %s",
				r.Killed, r.CallerGap.Round(time.Millisecond), r.CalleeGap.Round(time.Millisecond), r.Resumed.Round(time.Millisecond),
				pathText(r.Before), pathText(r.After))
			if err != nil {
				t.Fatal(err)
			}
			if after, ok := relayServer(r.After); !ok || after == r.Killed {
				t.Errorf("after the failover the call is relayed by %v (ok %v), the killed bootstrap's address", after, ok)
			}
			gaps = append(gaps, r.CallerGap, r.CalleeGap)
			if mx := max(r.CallerGap, r.CalleeGap); mx > 2*time.Second {
				t.Errorf("media gap %v, want at most 2 s", mx) // here, so the run's logs are shown
			}
		})
		if !r {
			return
		}
	}
	slices.Sort(gaps)
	t.Logf("gaps over %d failovers, both ends: min %v, median %v, max %v", rounds, gaps[0].Round(time.Millisecond),
		gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
}

// longCallEnv sets how long TestLongCalls keeps its calls (a Go
// duration; default 100s). The bench runs it for 30m.
const longCallEnv = "PARLEY_NATLAB_LONG_CALL"

// TestLongCalls: a relayed call (UDP-blocked caller, symmetric callee)
// and a direct one (cone to cone) run side by side for a while, with the
// bootstraps' circuit relay limit lowered to 30 s so that the relayed
// call's signalling connection ends mid-call, and TURN credentials that
// last 2 minutes, so that the relayed call renews them (an ICE restart)
// before they expire: neither call may drop, media must keep arriving at
// every end, and the daemons' memory must stay flat.
func TestLongCalls(t *testing.T) {
	t.Parallel()
	d := 100 * time.Second
	if v, err := time.ParseDuration(os.Getenv(longCallEnv)); err == nil && v > 0 {
		d = v
	}
	s := startSession(t, LongCallCasts, 0, nil, "--relay-circuit-duration", "30s", "--turn-credential-ttl", "2m")
	res, err := s.RunLongCalls(t.Context(), [][2]Kind{{UDPBlocked, Symmetric}, {Cone, Cone}}, d)
	for _, r := range res {
		t.Logf("%v → %v for %v: %s; received %d / %d packets (lost %d / %d, ICE restarts %d / %d, gaps ms %v / %v); RSS caller %.1f → %.1f MiB, callee %.1f → %.1f MiB %s",
			r.Caller, r.Callee, r.Duration.Round(time.Second), pathText(r.Path), r.Received[0], r.Received[1], r.Lost[0], r.Lost[1],
			r.Restarts[0], r.Restarts[1], r.Gaps[0], r.Gaps[1], mib(r.RSSStart[0]), mib(r.RSSEnd[0]), mib(r.RSSStart[1]), mib(r.RSSEnd[1]), r.Err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		want := uint64(d.Seconds() * 50 * 0.9)
		for j := range 2 {
			if r.Received[j] < want {
				t.Errorf("%v → %v: the %s received %d packets in %v, want at least %d", r.Caller, r.Callee, role(j), r.Received[j], d, want)
			}
			// Flat: at most 20 MiB or 50% more than once the call was up.
			if limit := max(r.RSSStart[j]*3/2, r.RSSStart[j]+20<<20); r.RSSEnd[j] > limit {
				t.Errorf("%v → %v: the %s's RSS grew from %.1f to %.1f MiB", r.Caller, r.Callee, role(j), mib(r.RSSStart[j]), mib(r.RSSEnd[j]))
			}
		}
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
