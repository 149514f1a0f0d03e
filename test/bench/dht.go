package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/testnet"
	"github.com/parleyhq/parley/test/wait"
)

// Goals of the DHT bench (from the issue), at the largest N.
const (
	goalChurnP95 = 100 * time.Millisecond // resolve p95 under silent churn, loopback
)

// dhtOptions are the flags of the dht subcommand.
type dhtOptions struct {
	sizes   []dhtSize
	boots   int
	churn   float64       // fraction of the nodes made silent
	lookups int           // per phase
	idle    time.Duration // bootstrap usage window
}

// dhtSize is one row: N nodes whose in-process nodes use lookupTimeout as
// node.Options.LookupTimeout.
type dhtSize struct {
	n             int
	lookupTimeout time.Duration
}

// parseDHTSizes reads "20,50,100,100@50ms": N, optionally with a lookup
// timeout other than def.
func parseDHTSizes(s string, def time.Duration) ([]dhtSize, error) {
	var out []dhtSize
	for f := range strings.SplitSeq(s, ",") {
		ns, ts, hasT := strings.Cut(f, "@")
		n, err := strconv.Atoi(ns)
		if err != nil || n < 4 {
			return nil, fmt.Errorf("%q: want N ≥ 4", f)
		}
		sz := dhtSize{n: n, lookupTimeout: def}
		if hasT {
			if sz.lookupTimeout, err = time.ParseDuration(ts); err != nil || sz.lookupTimeout <= 0 {
				return nil, fmt.Errorf("%q: want N@DURATION", f)
			}
		}
		out = append(out, sz)
	}
	return out, nil
}

// dhtResult is one network size.
type dhtResult struct {
	n, live, silent     int
	lookupTimeout       time.Duration
	join, publish       summary // per in-process node, from its start
	before, after       summary // resolve times, cold, before and after the churn
	okBefore, okAfter   int
	lookups             int
	nodeKiB             float64 // Go heap + stacks per in-process node, after GC
	daemonRSS, daemonAn int     // mean of the parleyd processes, KiB
	boots               []usage
	failures            []string // first few failed lookups after the churn
}

// dhtCmd parses the dht flags and runs the bench.
func dhtCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("dht", flag.ExitOnError)
	sizes := fs.String("nodes", "20,50,100,100@50ms", "network sizes, comma-separated, each optionally @LOOKUP-TIMEOUT")
	lookupTimeout := fs.Duration("lookup-timeout", 2*time.Second, "node.Options.LookupTimeout of the in-process nodes, unless a size names its own")
	var o dhtOptions
	fs.IntVar(&o.boots, "bootstraps", 3, "parley-bootstrap processes")
	fs.Float64Var(&o.churn, "churn", 0.3, "fraction of the nodes that go silent (SIGSTOP)")
	fs.IntVar(&o.lookups, "lookups", 100, "timed lookups before and again after the churn")
	fs.DurationVar(&o.idle, "idle", 5*time.Second, "window over which the bootstraps' CPU is read with the nodes registered")
	_ = fs.Parse(args)
	var err error
	if o.sizes, err = parseDHTSizes(*sizes, *lookupTimeout); err != nil {
		return fmt.Errorf("dht: -nodes: %w", err)
	}
	if o.boots < 1 || o.lookups < 1 || o.churn < 0 || o.churn >= 1 {
		return fmt.Errorf("dht: need -bootstraps ≥ 1, -lookups ≥ 1, 0 ≤ -churn < 1")
	}
	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	bins, err := env.build(ctx, "parley-bootstrap", "parleyd", "parley")
	if err != nil {
		return err
	}
	_, err = dhtBench(ctx, w, env, bins, o)
	return err
}

// dhtBench runs each network size in turn and prints the table.
func dhtBench(ctx context.Context, w io.Writer, env *benchEnv, bins daemon.Binaries, o dhtOptions) ([]dhtResult, error) {
	var all []dhtResult
	for _, sz := range o.sizes {
		r, err := dhtRun(ctx, env, bins, o, sz)
		if err != nil {
			return all, fmt.Errorf("dht N=%d: %w", sz.n, err)
		}
		all = append(all, r)
	}
	printDHT(w, o, all)
	return all, nil
}

// dhtRun measures one network: o.boots bootstraps, N·churn parleyd
// processes in DHT server mode that are later paused, and the rest
// in-process nodes in DHT server mode that look each other up.
func dhtRun(ctx context.Context, env *benchEnv, bins daemon.Binaries, o dhtOptions, sz dhtSize) (dhtResult, error) {
	n := sz.n
	r := dhtResult{n: n, lookupTimeout: sz.lookupTimeout, silent: int(math.Round(o.churn * float64(n)))}
	r.live = n - r.silent
	progressf("dht N=%d: %d bootstraps, %d parleyd to be silenced, %d in-process nodes…", n, o.boots, r.silent, r.live)
	boots, boot, err := env.startBootstraps(ctx, bins.Bootstrap, o.boots, append([]string{"--turn-disabled"}, loopbackRelayArgs...)...)
	defer func() {
		for _, p := range boots {
			p.Stop()
		}
	}()
	if err != nil {
		return r, err
	}
	var ds []*daemon.Parleyd
	defer func() {
		for _, d := range ds {
			_ = d.Stop()
		}
	}()
	for i := range r.silent {
		d, err := env.newDaemon(ctx, bins, fmt.Sprintf("dht%d-%v-silent%d", n, sz.lookupTimeout, i), "server")
		if err != nil {
			return r, err
		}
		ds = append(ds, d)
		if err := d.Launch(boot); err != nil {
			return r, err
		}
	}
	mem0 := goMemKiB()
	net, err := env.nodeNetwork(fmt.Sprintf("dht%d-%v", n, sz.lookupTimeout), boot, func(o *node.Options) {
		o.DHTMode, o.AccountCacheTTL, o.LookupTimeout = "server", -1, sz.lookupTimeout
		o.RetryInterval, o.ICELoopback = 0, false // node defaults: lookups only
	})
	if err != nil {
		return r, err
	}
	defer net.Close()
	starts := make([]time.Time, 0, r.live)
	nodes := make([]*testnet.Node, 0, r.live)
	for i := range r.live {
		starts = append(starts, time.Now())
		nd, err := net.AddNode(fmt.Sprintf("n%d", i), nil)
		if err != nil {
			return r, err
		}
		nodes = append(nodes, nd)
	}
	if r.join, r.publish, err = waitJoined(ctx, nodes, starts); err != nil {
		return r, err
	}
	for _, d := range ds {
		if err := d.WaitPublished(ctx); err != nil {
			return r, err
		}
	}
	r.nodeKiB = float64(goMemKiB()-mem0) / float64(r.live)
	for _, d := range ds {
		rss, anon, err := memKiB(d.Proc.PID())
		if err != nil {
			return r, err
		}
		r.daemonRSS += rss / max(1, len(ds))
		r.daemonAn += anon / max(1, len(ds))
	}
	if r.boots, err = measureProcs(ctx, o.idle, boots...); err != nil {
		return r, err
	}
	r.lookups = o.lookups
	progressf("dht N=%d: all published; %d lookups…", n, o.lookups)
	var took []time.Duration
	took, _, err = timeLookups(ctx, nodes, o.lookups)
	if err != nil {
		return r, err
	}
	r.okBefore, r.before = len(took), summarize(took)
	for _, d := range ds {
		if err := d.Proc.Signal(syscall.SIGSTOP); err != nil {
			return r, err
		}
	}
	progressf("dht N=%d: %d nodes silenced (SIGSTOP); %d lookups…", n, len(ds), o.lookups)
	took, r.failures, err = timeLookups(ctx, nodes, o.lookups)
	if err != nil {
		return r, err
	}
	r.okAfter, r.after = len(took), summarize(took)
	return r, nil
}

// waitJoined polls the nodes until each has a bootstrap connection
// (joined) and has published its presence, and summarizes how long each
// took from its own start.
func waitJoined(ctx context.Context, nodes []*testnet.Node, starts []time.Time) (join, publish summary, err error) {
	joined := make([]time.Duration, len(nodes))
	published := make([]time.Duration, len(nodes))
	err = wait.For(ctx, 2*time.Minute, func() error {
		missing := 0
		for i, n := range nodes {
			if published[i] > 0 {
				continue
			}
			s, err := n.Status()
			if err != nil {
				return err
			}
			now := time.Since(starts[i])
			if joined[i] == 0 {
				for _, b := range s.Bootstraps {
					if b.Connected {
						joined[i] = now
						break
					}
				}
			}
			if !s.Published.IsZero() {
				published[i] = now
				continue
			}
			missing++
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d nodes have not published", missing, len(nodes))
		}
		return nil
	})
	return summarize(joined), summarize(published), err
}

// timeLookups has random live nodes look up other random live nodes, cold
// (no cache, the connection to the target closed first). It returns the
// times of the lookups that reached the target and a few failure reasons.
func timeLookups(ctx context.Context, nodes []*testnet.Node, count int) ([]time.Duration, []string, error) {
	var took []time.Duration
	var fails []string
	for range count {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		a, b := rand.IntN(len(nodes)), rand.IntN(len(nodes)-1)
		if b >= a {
			b++
		}
		from, to := nodes[a], nodes[b]
		_ = from.Host().Network().ClosePeer(peer.ID(to.Keys().DeviceCert.Device))
		start := time.Now()
		l, err := from.Lookup(ctx, to.Account)
		d := time.Since(start)
		switch {
		case err != nil:
			fails = appendFew(fails, fmt.Sprintf("%v after %v", err, d.Round(time.Millisecond)))
		case len(l.Devices) == 0 || !l.Devices[0].Connected:
			fails = appendFew(fails, fmt.Sprintf("not connected after %v: %+v", d.Round(time.Millisecond), l.Devices))
		default:
			took = append(took, d)
		}
	}
	return took, fails, nil
}

func appendFew(s []string, v string) []string {
	if len(s) < 3 {
		return append(s, v)
	}
	return s
}

// goMemKiB is the live Go heap and the goroutine stacks of this process
// after a garbage collection, in KiB. Unlike the RSS it does not depend on
// what earlier parts freed but the runtime has not returned yet.
func goMemKiB() int {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int((m.HeapAlloc + m.StackInuse) / 1024)
}

// measureProcs reads processes' CPU over window and their RSS at its end.
func measureProcs(ctx context.Context, window time.Duration, ps ...*proc.Proc) ([]usage, error) {
	start := time.Now()
	cpu0 := make([]time.Duration, len(ps))
	for i, p := range ps {
		c, err := cpuTime(p.PID())
		if err != nil {
			return nil, err
		}
		cpu0[i] = c
	}
	if err := sleepCtx(ctx, window); err != nil {
		return nil, err
	}
	wall := time.Since(start)
	out := make([]usage, len(ps))
	for i, p := range ps {
		if p.Exited() {
			return nil, p.Failure("exited while measured")
		}
		c, err := cpuTime(p.PID())
		if err != nil {
			return nil, err
		}
		rss, anon, err := memKiB(p.PID())
		if err != nil {
			return nil, err
		}
		out[i] = usage{rssKiB: rss, anonKiB: anon, cpu: 100 * float64(c-cpu0[i]) / float64(wall)}
	}
	return out, nil
}

// printDHT prints the DHT table and the goal at the largest size.
func printDHT(w io.Writer, o dhtOptions, all []dhtResult) {
	fmt.Fprintf(w, "%d parley-bootstrap processes (peered) on loopback; N nodes, all in DHT server mode: %.0f %% of them are real "+
		"`parleyd run --dht-mode server` processes that are later **paused with SIGSTOP** (sockets stay open, nothing answers: "+
		"no FIN, no RST — silent churn), the rest are in-process nodes (node.Options: AccountCacheTTL -1 and the LookupTimeout in the first column). "+
		"Join = first bootstrap connection, publish = presence record stored, both per in-process node from its own start. "+
		"A lookup is cold (no cache, the connection to the target closed first): account record → presence record → "+
		"connected to the device; %d lookups between random live nodes before and again after the churn. "+
		"Memory per in-process node = growth of the bench process's live Go heap + goroutine stacks (after GC) divided by the in-process nodes; "+
		"parleyd = mean RSS of the processes (they are DHT servers, unlike the budgets' client-mode daemons).\n\n",
		o.boots, 100*o.churn, o.lookups)
	fmt.Fprintf(w, "| N | join median / max | publish median / max | resolve ok, median, p95 (no churn) | resolve ok, median, p95 (%.0f %% silent) | Go heap + stacks per in-process node | parleyd RSS (anon) |\n", 100*o.churn)
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|\n")
	for _, r := range all {
		fmt.Fprintf(w, "| %d (%d live + %d silent), LookupTimeout %v | %.0f / %.0f ms | %.0f / %.0f ms | %d/%d, %.1f ms, %.1f ms | %d/%d, %.1f ms, %.1f ms | %.2f MiB | %.1f MiB (%.1f) |\n",
			r.n, r.live, r.silent, r.lookupTimeout, ms(r.join.median), ms(r.join.max), ms(r.publish.median), ms(r.publish.max),
			r.okBefore, r.lookups, ms(r.before.median), ms(r.before.p95),
			r.okAfter, r.lookups, ms(r.after.median), ms(r.after.p95),
			r.nodeKiB/1024, mib(r.daemonRSS), mib(r.daemonAn))
	}
	if len(all) == 0 {
		return
	}
	largest := slices.MaxFunc(all, func(a, b dhtResult) int { return a.n - b.n }).n
	for _, r := range all {
		if r.n != largest {
			continue
		}
		ok := r.okAfter == r.lookups && r.after.p95 <= goalChurnP95
		fmt.Fprintf(w, "\nGoal at N = %d under silent churn, LookupTimeout %v: 100 %% success and p95 ≤ %.0f ms: %s (%d/%d, p95 %.1f ms).\n",
			r.n, r.lookupTimeout, ms(goalChurnP95), verdict(ok), r.okAfter, r.lookups, ms(r.after.p95))
	}
	for _, r := range all {
		for _, f := range r.failures {
			fmt.Fprintf(w, "\n- N = %d, LookupTimeout %v, a failed lookup after the churn: %s", r.n, r.lookupTimeout, f)
		}
	}
	fmt.Fprintln(w)
}
