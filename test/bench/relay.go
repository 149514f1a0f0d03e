package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// relayLoad is one row of the relay bench: how many allocations
// turnutils_uclient holds, the payload size and the pacing per allocation
// (0: as fast as it can, the flood row).
type relayLoad struct {
	name     string
	allocs   int
	size     int
	interval time.Duration
}

// relayLoads are the rows of the full run: VoIP pacing (one packet per
// 20 ms per allocation) at 50 and 200 allocations with audio-sized and
// video-sized payloads, and a flood.
var relayLoads = []relayLoad{
	{"VoIP", 50, 160, 20 * time.Millisecond},
	{"VoIP", 50, 1200, 20 * time.Millisecond},
	{"VoIP", 200, 160, 20 * time.Millisecond},
	{"VoIP", 200, 1200, 20 * time.Millisecond},
	{"flood", 10, 160, 0},
}

// clientsPerUclient is how many allocations one turnutils_uclient process
// holds. uclient sets its clients up one after another (about 120 ms each),
// so 200 in one process would take 25 s to start; several processes start
// in parallel.
const clientsPerUclient = 50

// relayWarmup bounds the wait for the load to reach its pace.
const relayWarmup = 60 * time.Second

// relayServer is one TURN server under test.
type relayServer struct {
	name  string
	start func(ctx context.Context, port int, secret string) (*proc.Proc, error)
}

// relayResult is one server under one load, over the measurement window.
type relayResult struct {
	load       relayLoad
	server     string
	offered    float64 // messages per second the clients sent
	relayed    float64 // packets per second the server relayed (2 per echoed message)
	loss       float64 // fraction of sent messages that did not come back
	cpuPct     float64 // server CPU, % of one core
	cpuPerPkt  float64 // server CPU µs per relayed packet
	rssKiB     int     // at the window's end
	anonKiB    int     // RssAnon at the window's end
	idleRSSKiB int     // before the load started
}

// relayOptions are the flags of the relay subcommand.
type relayOptions struct {
	window time.Duration
	loads  []relayLoad
	reps   int    // runs per server and row; the least disturbed (lowest CPU per packet) is kept
	alone  bool   // also run bootstrap/turnsrv without the libp2p host
	before string // also run these parley-bootstrap binaries (comma-separated paths): an A/B of a change
}

// relayCmd parses the relay flags and runs the bench.
func relayCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	window := fs.Duration("window", 10*time.Second, "measurement window per row, once the load has reached its pace")
	reps := fs.Int("reps", 2, "runs per server and row, alternating servers; the one with the lowest CPU per relayed packet is reported")
	rows := fs.String("rows", "", "comma-separated row numbers to run (0-based; default all)")
	before := fs.String("before", "", "also measure these parley-bootstrap binaries (comma-separated paths), named by file name: an A/B of a change in one run")
	alone := fs.Bool("alone", false, "also measure bootstrap/turnsrv alone (the bench's turnserve subcommand, no libp2p host)")
	_ = fs.Parse(args)
	loads := relayLoads
	if *rows != "" {
		loads = nil
		for f := range strings.SplitSeq(*rows, ",") {
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || i >= len(relayLoads) {
				return fmt.Errorf("relay: -rows: bad row %q (0..%d)", f, len(relayLoads)-1)
			}
			loads = append(loads, relayLoads[i])
		}
	}
	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	_, err = relayBench(ctx, w, env, relayOptions{window: *window, loads: loads, alone: *alone, before: *before, reps: max(1, *reps)})
	return err
}

// relayBench runs every load against coturn and parley-bootstrap's TURN,
// one fresh server per row, and prints the table.
func relayBench(ctx context.Context, w io.Writer, env *benchEnv, o relayOptions) ([]relayResult, error) {
	tools, err := ensureCoturn(ctx, progressf)
	if err != nil {
		return nil, err
	}
	bins, err := env.build(ctx, "parley-bootstrap")
	if err != nil {
		return nil, err
	}
	peerPort, err := freeTURNPort()
	if err != nil {
		return nil, err
	}
	peer, err := env.start("turnutils_peer", tools["turnutils_peer"], "-L", "127.0.0.1", "-p", strconv.Itoa(peerPort))
	if err != nil {
		return nil, err
	}
	defer peer.Stop()
	servers := []relayServer{
		{"coturn " + coturnVersion(ctx, tools["turnserver"]), func(ctx context.Context, port int, secret string) (*proc.Proc, error) {
			return env.startCoturn(ctx, tools["turnserver"], fmt.Sprintf("coturn-%d", port), port, secret)
		}},
		{"parley-bootstrap", func(ctx context.Context, port int, secret string) (*proc.Proc, error) {
			return env.startParleyTURN(ctx, bins.Bootstrap, fmt.Sprintf("pbturn-%d", port), port, secret)
		}},
	}
	for b := range strings.SplitSeq(o.before, ",") {
		if b == "" {
			continue
		}
		servers = append(servers, relayServer{"parley-bootstrap " + filepath.Base(b), func(ctx context.Context, port int, secret string) (*proc.Proc, error) {
			return env.startParleyTURN(ctx, b, fmt.Sprintf("pb-%s-%d", filepath.Base(b), port), port, secret)
		}})
	}
	if o.alone {
		servers = append(servers, relayServer{"turnsrv alone", func(ctx context.Context, port int, secret string) (*proc.Proc, error) {
			return env.startTurnServe(ctx, fmt.Sprintf("turnserve-%d", port), port, secret)
		}})
	}
	var all []relayResult
	for _, load := range o.loads {
		best := make([]relayResult, len(servers))
		for rep := range max(1, o.reps) {
			for i, s := range servers {
				r, err := relayRunRetry(ctx, env, s, load, tools["turnutils_uclient"], peerPort, o.window)
				if err != nil {
					return all, err
				}
				if rep == 0 || r.cpuPerPkt < best[i].cpuPerPkt {
					best[i] = r
				}
			}
		}
		all = append(all, best...)
	}
	printRelay(w, o, all)
	return all, nil
}

// relayRunRetry is relayRun, retried once with a fresh server when the
// load never reached its pace.
func relayRunRetry(ctx context.Context, env *benchEnv, s relayServer, load relayLoad, uclientBin string, peerPort int, window time.Duration) (relayResult, error) {
	progressf("relay: %s, %s %d × %d B…", s.name, load.name, load.allocs, load.size)
	r, err := relayRun(ctx, env, s, load, uclientBin, peerPort, window)
	if errors.Is(err, ErrNoProgress) && ctx.Err() == nil {
		// turnutils_uclient gives up on the first error response (it once
		// got a 400 to a ChannelBind it had retried); one retry with a
		// fresh server keeps a full run going.
		progressf("relay: %v; retrying once", err)
		r, err = relayRun(ctx, env, s, load, uclientBin, peerPort, window)
	}
	if err != nil {
		return r, fmt.Errorf("relay %s %s %d×%dB: %w", s.name, load.name, load.allocs, load.size, err)
	}
	return r, nil
}

// relayRun starts a fresh server, drives it with turnutils_uclient
// processes echoing through turnutils_peer, waits for the load to reach
// its pace and measures over window.
func relayRun(ctx context.Context, env *benchEnv, s relayServer, load relayLoad, uclientBin string, peerPort int, window time.Duration) (relayResult, error) {
	r := relayResult{load: load, server: s.name}
	port, err := freeTURNPort()
	if err != nil {
		return r, err
	}
	secret, err := randomSecret()
	if err != nil {
		return r, err
	}
	p, err := s.start(ctx, port, secret)
	if err != nil {
		return r, err
	}
	defer p.Stop()
	if r.idleRSSKiB, _, err = memKiB(p.PID()); err != nil {
		return r, err
	}
	us, err := startUclients(env, load, uclientBin, port, peerPort, secret, window)
	defer func() {
		for _, u := range us {
			_ = u.Stop()
		}
	}()
	if err != nil {
		return r, err
	}
	if err := waitPace(ctx, load, us); err != nil {
		return r, err
	}
	t0 := time.Now()
	cpu0, err := cpuTime(p.PID())
	if err != nil {
		return r, err
	}
	if err := sleepCtx(ctx, window); err != nil {
		return r, err
	}
	t1 := time.Now()
	cpu1, err := cpuTime(p.PID())
	if err != nil {
		return r, err
	}
	if r.rssKiB, r.anonKiB, err = memKiB(p.PID()); err != nil {
		return r, err
	}
	if err := waitCounts(ctx, 5*time.Second, t1, us); err != nil {
		return r, err
	}
	s0, r0, _ := totalAt(us, t0)
	s1, r1, _ := totalAt(us, t1)
	secs := t1.Sub(t0).Seconds()
	sent, recv := s1-s0, r1-r0
	r.offered = sent / secs
	r.relayed = 2 * recv / secs
	if sent > 0 {
		r.loss = max(0, 1-recv/sent)
	}
	r.cpuPct = 100 * (cpu1 - cpu0).Seconds() / secs
	if recv > 0 {
		r.cpuPerPkt = float64((cpu1 - cpu0).Microseconds()) / (2 * recv)
	}
	return r, nil
}

// startUclients starts enough turnutils_uclient processes for the load's
// allocations, each sending long enough to outlast warm-up and window.
func startUclients(env *benchEnv, load relayLoad, bin string, port, peerPort int, secret string, window time.Duration) ([]*uclient, error) {
	procs := (load.allocs + clientsPerUclient - 1) / clientsPerUclient
	n := 10_000_000 // flood: until stopped
	if load.interval > 0 {
		n = int((relayWarmup + window + 10*time.Second) / load.interval)
	}
	var us []*uclient
	for i := range procs {
		m := load.allocs / procs
		if i < load.allocs%procs {
			m++
		}
		// -c: no RTCP allocation (one allocation per client); -X: IPv4
		// relay; -e/-r: the echoing peer; -W: TURN REST secret, the
		// username becomes "expiry:user" as parley's turncred issues.
		u, err := startUclient(env, bin, "-c", "-X", "-W", secret, "-u", fmt.Sprintf("bench%d", i),
			"-p", strconv.Itoa(port), "-e", "127.0.0.1", "-r", strconv.Itoa(peerPort),
			"-m", strconv.Itoa(m), "-n", strconv.Itoa(n), "-l", strconv.Itoa(load.size),
			"-z", strconv.Itoa(int(load.interval/time.Millisecond)), "127.0.0.1")
		if err != nil {
			return us, err
		}
		us = append(us, u)
	}
	return us, nil
}

// waitPace waits until every uclient is sending at 90 % of its paced rate
// (over its last second of progress), or, for a flood, has been sending for
// two seconds.
func waitPace(ctx context.Context, load relayLoad, us []*uclient) error {
	err := wait.For(ctx, relayWarmup, func() error {
		for i, u := range us {
			if u.Exited() {
				return wait.Stop(u.Failure("ended early"))
			}
			cs := u.snapshot()
			if len(cs) < 3 || cs[len(cs)-3].sent == 0 {
				return fmt.Errorf("uclient %d: not sending yet", i)
			}
			if load.interval == 0 {
				continue
			}
			a, b := cs[len(cs)-2], cs[len(cs)-1]
			rate := float64(b.sent-a.sent) / b.at.Sub(a.at).Seconds()
			m := float64(load.allocs) / float64(len(us))
			want := 0.9 * m * float64(time.Second/load.interval)
			if rate < want {
				return fmt.Errorf("uclient %d: %.0f msg/s, want ≥ %.0f", i, rate, want)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoProgress, err)
	}
	return nil
}

// printRelay prints the relay table, pairing each parley row with the
// coturn row of the same load, and the goals.
func printRelay(w io.Writer, o relayOptions, all []relayResult) {
	fmt.Fprintf(w, "Each row: a fresh server on 127.0.0.1 with the same TURN REST secret and realm; "+
		"`turnutils_uclient -c -X -W SECRET -m M -l SIZE -z 20` (coturn's load tool, one process per %d allocations) "+
		"sends through its allocation to one `turnutils_peer`, which echoes every packet back through the relay: "+
		"each echoed message is two relayed packets. Measured over %v once every client sends at its pace. "+
		"CPU is the server process's utime+stime; RSS and RssAnon at the window's end (idle RSS before the load in brackets). "+
		"Each server ran each row %d times, alternating with the other servers; the run with the lowest CPU per relayed packet "+
		"(the least disturbed by other work on the machine) is shown. Message counts come from uclient's once-a-second progress "+
		"lines, interpolated to the window's edges (±3 %%). "+
		"parley-bootstrap also runs its libp2p host (DHT, circuit relay) in the same process.\n\n", clientsPerUclient, o.window, max(1, o.reps))
	fmt.Fprintf(w, "| load | allocations × payload | server | offered msg/s | relayed pkts/s | loss | server CPU | CPU µs / relayed pkt | RSS (anon) [idle] | CPU/pkt vs coturn |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	coturn := map[relayLoad]relayResult{}
	for _, r := range all {
		if strings.HasPrefix(r.server, "coturn") {
			coturn[r.load] = r
		}
	}
	for _, r := range all {
		ratio := "—"
		if c, ok := coturn[r.load]; ok && c.server != r.server && c.cpuPerPkt > 0 {
			ratio = fmt.Sprintf("%.2f×", r.cpuPerPkt/c.cpuPerPkt)
		}
		fmt.Fprintf(w, "| %s | %d × %d B | %s | %.0f | %.0f | %.2f %% | %.1f %% | %.2f | %.1f MiB (%.1f) [%.1f] | %s |\n",
			r.load.name, r.load.allocs, r.load.size, r.server, r.offered, r.relayed, 100*r.loss, r.cpuPct, r.cpuPerPkt,
			mib(r.rssKiB), mib(r.anonKiB), mib(r.idleRSSKiB), ratio)
	}
	cpuOK, lossOK := true, true
	worst, lossDelta, n := 0.0, 0.0, 0
	var rssRatio, anonRatio []float64
	for _, r := range all {
		c, ok := coturn[r.load]
		if !ok || c.server == r.server || r.server != "parley-bootstrap" || c.cpuPerPkt == 0 {
			continue
		}
		n++
		rssRatio = append(rssRatio, float64(r.rssKiB)/float64(max(1, c.rssKiB)))
		anonRatio = append(anonRatio, float64(r.anonKiB)/float64(max(1, c.anonKiB)))
		ratio := r.cpuPerPkt / c.cpuPerPkt
		worst = max(worst, ratio)
		cpuOK = cpuOK && ratio <= 1.0
		// Loss: equal up to a tenth of a percentage point (clock and
		// interpolation noise).
		lossOK = lossOK && r.loss <= c.loss+0.001
		lossDelta = max(lossDelta, r.loss-c.loss)
	}
	if n == 0 {
		fmt.Fprintf(w, "\nGoals not judged: no row has CPU readings for both servers (window too short for 10 ms clock ticks?).\n")
		return
	}
	fmt.Fprintf(w, "\nGoal (parley-bootstrap): CPU per relayed packet ≤ 1.0× coturn's on every row: %s (worst %.2f×). "+
		"Goal: no more loss than coturn at the same load (equal within 0.1 percentage point, the counters' noise): %s (worst %+.2f points). "+
		"Memory under load: parley-bootstrap's RSS is %.2f–%.2f× coturn's (RssAnon %.2f–%.2f×).\n",
		verdict(cpuOK), worst, verdict(lossOK), 100*lossDelta, slices.Min(rssRatio), slices.Max(rssRatio), slices.Min(anonRatio), slices.Max(anonRatio))
}
