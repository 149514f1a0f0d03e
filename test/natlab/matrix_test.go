package natlab

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
)

var (
	binsOnce sync.Once
	bins     daemon.Binaries
	binsErr  error
	binsDir  string // removed by TestMain
)

// labBinaries builds the lab's Parley binaries once per test process.
func labBinaries(t testing.TB) daemon.Binaries {
	t.Helper()
	binsOnce.Do(func() {
		var err error
		if binsDir, err = os.MkdirTemp("", "parley-natlab-bin-"); err != nil {
			binsErr = err
			return
		}
		bins, binsErr = Build(context.Background(), binsDir)
	})
	if binsErr != nil {
		t.Fatal(binsErr)
	}
	return bins
}

// startSession builds the cast's lab and starts a session in it for a
// test; everything is torn down when the test ends, and the processes'
// output is logged if it failed. before, when set, runs once the lab is up
// and before any Parley process starts.
func startSession(t *testing.T, cast Cast, delay time.Duration, before func(*Lab), bootstrapArgs ...string) *Session {
	t.Helper()
	skipUnsupported(t)
	b := labBinaries(t)
	l := newLab(t, cast.Sites(delay, 0)...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range l.Procs() {
				t.Logf("--- output of %v:\n%s", p, p.Output())
			}
		}
	})
	if before != nil {
		before(l)
	}
	s, err := StartSession(t.Context(), l, cast, SessionOptions{Bins: b, Dir: t.TempDir(), BootstrapArgs: bootstrapArgs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkCall asserts what every cell must show: connected, media both
// ways for the whole period (each end hears the other's tone, few losses),
// the same SAS at both ends, and the path theory predicts.
func checkCall(t *testing.T, r CallResult, media time.Duration) {
	t.Helper()
	if !r.Connected || r.Err != "" {
		t.Fatalf("%v → %v: connected %v: %s", r.Caller, r.Callee, r.Connected, r.Err)
	}
	t.Logf("%v → %v: both ends had media after %v (caller %v, callee %v); paths %s / %s",
		r.Caller, r.Callee, r.Setup().Round(time.Millisecond), r.CallerEnd.Setup.Round(time.Millisecond),
		r.CalleeEnd.Setup.Round(time.Millisecond), pathString(r.CallerEnd.Call.Path), pathString(r.CalleeEnd.Call.Path))
	// Media must flow both ways for the whole period: each end receives
	// nearly all the peer sent, and each sender keeps up with the tone for
	// at least part of it. (Under heavy load a sender's pacer sometimes skips
	// ahead after a stall instead of bursting, so fewer packets are sent
	// without any loss; that is logged, and fails only below a third.)
	nominal := uint64(media / (20 * time.Millisecond))
	ends := []struct {
		name       string
		end, other End
		tone       float64
	}{{"caller", r.CallerEnd, r.CalleeEnd, CalleeToneHz}, {"callee", r.CalleeEnd, r.CallerEnd, CallerToneHz}}
	for _, e := range ends {
		rec, sent := e.end.Received(), e.other.Sent()
		switch {
		case sent.Packets < nominal/3:
			t.Errorf("the %s's peer sent %d packets in %v, want ≥ %d", e.name, sent.Packets, media, nominal/3)
		case sent.Packets < nominal*2/3:
			t.Logf("the %s's peer sent only %d packets in %v (nominal %d)", e.name, sent.Packets, media, nominal)
		}
		if rec.Packets+5 < sent.Packets*9/10 {
			t.Errorf("%s received %d of the %d packets its peer sent", e.name, rec.Packets, sent.Packets)
		}
		if e.end.LossRate() > 0.05 {
			t.Errorf("%s lost %.1f%% of the media (%d lost, %d received)", e.name, 100*e.end.LossRate(), rec.Lost, rec.Packets)
		}
		if e.end.Call.ToneHz != e.tone {
			t.Errorf("%s hears %v Hz, want %v Hz", e.name, e.end.Call.ToneHz, e.tone)
		}
	}
	if r.CallerEnd.Call.SAS == "" || r.CallerEnd.Call.SAS != r.CalleeEnd.Call.SAS {
		t.Errorf("SAS caller %q, callee %q", r.CallerEnd.Call.SAS, r.CalleeEnd.Call.SAS)
	}
	for _, p := range pathProblems(r) {
		t.Error(p)
	}
}

// pathProblems lists where the call's path differs from what theory
// predicts for its NAT kinds.
func pathProblems(r CallResult) []string {
	var out []string
	want := Expect(r.Caller, r.Callee)
	for _, e := range []struct {
		name string
		kind Kind
		path apitype.CallPath
	}{{"caller", r.Caller, r.CallerEnd.Call.Path}, {"callee", r.Callee, r.CalleeEnd.Call.Path}} {
		switch {
		case want.Direct && e.path.Kind != "direct":
			out = append(out, fmt.Sprintf("%s (%v) ended on %s; theory says a direct path exists", e.name, e.kind, pathString(e.path)))
		case !want.Direct && e.path.Kind != "relay":
			out = append(out, fmt.Sprintf("%s (%v) ended on %s; theory says only a relay works", e.name, e.kind, pathString(e.path)))
		case (e.kind == UDPBlocked || e.kind == TCP443) && e.path.Network != "tcp":
			out = append(out, fmt.Sprintf("%s (%v) reaches TURN over %q, want tcp", e.name, e.kind, e.path.Network))
		}
	}
	return out
}

// TestMatrix calls every ordered pair of NAT kinds (25 cells, the diagonal
// included) with the real binaries, no added delay: each cell must connect,
// carry media both ways for 3 s and end on the path theory predicts. With
// -short only the diagonal runs.
//
// The tcp443 cells are issue 17's fifth site kind: a daemon whose network
// lets nothing out but TCP to port 443 reaches the bootstrap's libp2p
// listener on 443, holds a relay slot there (so it publishes a circuit
// address and is resolved and called through it), and reaches TURN over a
// libp2p stream on that connection (internal/turnstream); it calls, and is
// called by, every kind, relayed, its end on TURN over TCP. TCP to the TURN
// port cannot leave a tcp443 site (TestNATKinds), and the bootstrap's
// metrics must count at least one TURN stream per tcp443 cell: each such
// call's tcp443 end used a leg with an allocation over a stream.
func TestMatrix(t *testing.T) {
	t.Parallel()
	var cells [][2]Kind
	for _, c := range allCells() {
		if c[0] == TCP443 || c[1] == TCP443 {
			cells = append(cells, c)
		}
	}
	s, _ := runCells(t, 0, FullCast, allCells(), "--metrics-addr", metricsAddr)
	if t.Failed() {
		return
	}
	want := len(cells)
	if testing.Short() {
		want = 1 // the diagonal only
	}
	opened, err := s.Lab.bootstrapMetric(t.Context(), `parley_bootstrap_turn_streams_total{result="opened"}`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the bootstrap opened %v TURN streams for %d calls with a tcp443 end", opened, want)
	if opened < float64(want) {
		t.Fatalf("the bootstrap opened %v TURN streams for %d calls with a tcp443 end, want at least one per call", opened, want)
	}
}

// TestMatrixDelayed repeats the cells most sensitive to round-trip time
// (the diagonal, and the direct paths that rely on a peer-reflexive
// candidate) with 25 ms on every uplink. It does not run in parallel: the
// delay line is a user-space program, and other labs' load makes it drop
// packets.
func TestMatrixDelayed(t *testing.T) {
	cells := [][2]Kind{{None, None}, {Cone, Cone}, {Symmetric, Symmetric}, {UDPBlocked, UDPBlocked}, {TCP443, TCP443}, {Symmetric, None}, {None, Symmetric}}
	runCells(t, 25*time.Millisecond, FullCast, cells)
}

func allCells() [][2]Kind {
	var cells [][2]Kind
	for _, a := range Kinds {
		for _, b := range Kinds {
			cells = append(cells, [2]Kind{a, b})
		}
	}
	return cells
}

// runCells places one call per cell in a session of cast (two when a
// delayed cell's path differs from theory) and checks each. It returns the
// session and the number of cells run.
func runCells(t *testing.T, delay time.Duration, cast Cast, cells [][2]Kind, bootstrapArgs ...string) (*Session, int) {
	const media = 3 * time.Second
	// Relayed libp2p connections outlive the run: a call must not fail
	// here because its circuit expired (TestRelayedCallOutlivesCircuit is
	// about that).
	s := startSession(t, cast, delay, nil, append([]string{"--relay-circuit-duration", "30m"}, bootstrapArgs...)...)
	n := 0
	for _, c := range cells {
		if testing.Short() && c[0] != c[1] {
			continue
		}
		n++
		t.Run(fmt.Sprintf("%v_to_%v", c[0], c[1]), func(t *testing.T) {
			r, err := s.Call(t.Context(), c[0], c[1], media)
			if err != nil {
				t.Fatal(err)
			}
			// With delay, ICE sometimes settles on a TURN pair although a
			// direct one works (issue 17 asks for moving to it mid-call):
			// such a cell gets one more call, long enough for the
			// renomination rounds (after 1 s, then at doubling intervals)
			// to move it, before the path counts.
			if p := pathProblems(r); delay > 0 && len(p) > 0 {
				const longer = 10 * time.Second
				t.Logf("path differs from theory (%s); calling once more, for %v", strings.Join(p, "; "), longer)
				if r, err = s.Call(t.Context(), c[0], c[1], longer); err != nil {
					t.Fatal(err)
				}
				checkCall(t, r, longer)
				return
			}
			checkCall(t, r, media)
		})
	}
	return s, n
}

func pathString(p apitype.CallPath) string {
	if p.Kind == "" {
		return "no path"
	}
	return fmt.Sprintf("%s (%s→%s over %s)", p.Kind, p.Local, p.Remote, p.Network)
}

// TestRelayedCallOutlivesCircuit: when no direct libp2p connection is
// possible (a symmetric-NAT caller, a UDP-blocked callee), the call's
// signalling runs over the bootstrap's circuit relay, whose relayed
// connections end after --relay-circuit-duration (2 min by default). The
// call's media does not use that connection, so the call must survive its
// end, and a hang-up must still reach the other side (it goes on a control
// stream of its own). Found by the matrix report, where a pair's circuit was
// 2 minutes old; the relay's limit is lowered to 10 s here.
func TestRelayedCallOutlivesCircuit(t *testing.T) {
	t.Parallel()
	const media = 20 * time.Second
	s := startSession(t, Cast{Callers: []Kind{Symmetric}, Callees: []Kind{UDPBlocked}}, 0, nil, "--relay-circuit-duration", "10s")
	r, err := s.Call(t.Context(), Symmetric, UDPBlocked, media)
	if err != nil {
		t.Fatal(err)
	}
	checkCall(t, r, media)
}
