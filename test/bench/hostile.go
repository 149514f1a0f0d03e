package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/test/daemon"
)

// The hostile part floods a target process with one kind of junk at a time
// for a fixed number of attempts, measuring the target's memory every step
// attempts: resident set size and live Go heap (what the last garbage
// collection kept). A flood plateaus when what the
// target keeps of it stays within its cap and the heap stops growing. Each
// flood gets a fresh target, so one flood's state does not hide another's.
//
// Adding a flood is adding a value to the list hostileFloods (the
// bootstrap's) or hostileDaemonFloods (parleyd's) returns: a name, a target
// to start, and the attempt itself. A target is a hostileTarget: its PID
// and a way to read its heap (the bootstrap's metrics, the daemon's status).

// hostileOptions are the flags of the hostile subcommand.
type hostileOptions struct {
	// scale multiplies every flood's attempts (the smoke run uses a small
	// one).
	scale float64
	// step is how many attempts pass between two measurements, at most a
	// quarter of a flood's attempts.
	step int
	// only, if set, runs only the floods whose name contains it.
	only string
}

// hostileTarget is a process under attack.
type hostileTarget struct {
	name string
	pid  int
	// heap returns the target's live Go heap (after its last garbage
	// collection), in bytes.
	heap func(ctx context.Context) (float64, error)
}

// memSample is a target's memory at one point.
type memSample struct {
	rssKiB int
	heap   float64 // bytes
}

func (t *hostileTarget) sample(ctx context.Context) (memSample, error) {
	rss, err := rssKiB(t.pid)
	if err != nil {
		return memSample{}, err
	}
	h, err := t.heap(ctx)
	if err != nil {
		return memSample{}, fmt.Errorf("%s heap: %w", t.name, err)
	}
	return memSample{rss, h}, nil
}

// flood is one kind of junk sent to one target.
type flood struct {
	// name says what is sent, from whom.
	name string
	// attempts is the full-size number of attempts.
	attempts int
	// parallel is how many attempts run at once (default 1).
	parallel int
	// bound describes what caps the target's state, for the table.
	bound string
	// cap is the most the target may keep (kept); 0: nothing is kept.
	cap float64
	// start starts a fresh target and returns it with the attempt and
	// kept functions bound to it.
	start func(ctx context.Context, env *benchEnv) (*floodRun, error)
}

// floodRun is a flood against its started target.
type floodRun struct {
	target *hostileTarget
	// attempt makes attempt i; an error stops the flood (a refusal by the
	// target is not an error).
	attempt func(ctx context.Context, i int) error
	// kept returns what the target keeps of the flood (records,
	// allocations, ...).
	kept func(ctx context.Context) (float64, error)
	// close releases what the attacker holds (allocations, hosts).
	close func()
	// unreached counts attempts that could not reach the target (a
	// connection refused or timed out under load): they are attempts all
	// the same, reported after the flood.
	unreached atomic.Int64
}

// hostileRow is one measurement of a flood.
type hostileRow struct {
	target, flood, bound string
	attempts             int
	kept, cap            float64
	mem                  memSample
	verdict              string // on the last row of a flood
}

func hostileCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("hostile", flag.ExitOnError)
	o := hostileOptions{}
	fs.Float64Var(&o.scale, "scale", 1, "multiply every flood's attempts by this")
	fs.IntVar(&o.step, "step", 10_000, "attempts between two measurements (at most a quarter of a flood)")
	fs.StringVar(&o.only, "only", "", "run only the floods whose name contains this")
	_ = fs.Parse(args)
	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	bins, err := env.build(ctx, "parley-bootstrap", "parleyd")
	if err != nil {
		return err
	}
	rows, err := hostileBench(ctx, env, bins, o)
	printHostile(w, rows)
	return err
}

// hostileBench runs every flood and returns the measurements. It returns
// ErrGoalMissed (after all floods) when one did not plateau.
func hostileBench(ctx context.Context, env *benchEnv, bins daemon.Binaries, o hostileOptions) ([]hostileRow, error) {
	var rows []hostileRow
	var missed []string
	for _, f := range slices.Concat(hostileFloods(bins.Bootstrap), hostileDaemonFloods(bins)) {
		if o.only != "" && !strings.Contains(f.name, o.only) {
			continue
		}
		n := max(1, int(math.Round(float64(f.attempts)*o.scale)))
		// At least four measurements after the start, so the second half
		// of the flood has two to judge the plateau by.
		step := o.step
		if step <= 0 || step > n/4 {
			step = max(1, n/4)
		}
		progressf("hostile: %s, %d attempts…", f.name, n)
		fr, err := runFlood(ctx, env, f, n, step)
		rows = append(rows, fr...)
		if err != nil {
			return rows, fmt.Errorf("hostile: %s: %w", f.name, err)
		}
		if v := fr[len(fr)-1].verdict; v != verdictPlateau {
			missed = append(missed, f.name)
		}
	}
	if len(missed) > 0 {
		return rows, fmt.Errorf("hostile: %w: no plateau for %v", ErrGoalMissed, missed)
	}
	return rows, nil
}

const (
	verdictPlateau = "plateaus"
	verdictGrows   = "GROWS"
	verdictOverCap = "OVER CAP"
)

// runFlood starts a target, measures it, makes n attempts measuring every
// step, and judges the plateau.
func runFlood(ctx context.Context, env *benchEnv, f flood, n, step int) ([]hostileRow, error) {
	run, err := f.start(ctx, env)
	if err != nil {
		return nil, err
	}
	defer run.close()
	measure := func(done int) (hostileRow, error) {
		m, err := run.target.sample(ctx)
		if err != nil {
			return hostileRow{}, err
		}
		kept, err := run.kept(ctx)
		if err != nil {
			return hostileRow{}, err
		}
		return hostileRow{target: run.target.name, flood: f.name, bound: f.bound, attempts: done, kept: kept, cap: f.cap, mem: m}, nil
	}
	first, err := measure(0)
	if err != nil {
		return nil, err
	}
	rows := []hostileRow{first}
	par := max(1, f.parallel)
	for done := 0; done < n; {
		next := min(n, done+step)
		if err := attemptRange(ctx, run.attempt, done, next, par); err != nil {
			return rows, err
		}
		done = next
		r, err := measure(done)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	rows[len(rows)-1].verdict = judge(rows, f.cap)
	if u := run.unreached.Load(); u > 0 {
		progressf("hostile: %s: %d of %d attempts did not reach the target", f.name, u, n)
	}
	return rows, nil
}

// attemptRange makes attempts [from, to) with par at once.
func attemptRange(ctx context.Context, attempt func(context.Context, int) error, from, to, par int) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range par {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				if err := attempt(ctx, i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("attempt %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// heapSlack is heap growth over the second half of a flood that still
// counts as flat: the live heap moves by a few MiB with what happens to be
// in flight at the last garbage collection.
const heapSlack = 4 << 20

// judge says whether a flood plateaued: what the target kept never
// exceeded the cap, and the heap grew over the second half of the flood by
// at most half of what it grew over the first half, or by heapSlack.
func judge(rows []hostileRow, cap float64) string {
	for _, r := range rows {
		if cap > 0 && r.kept > cap {
			return verdictOverCap
		}
		if cap == 0 && r.kept > 0 {
			return verdictOverCap
		}
	}
	first, last := rows[0], rows[len(rows)-1]
	mid := rows[len(rows)/2]
	firstHalf := mid.mem.heap - first.mem.heap
	secondHalf := last.mem.heap - mid.mem.heap
	if secondHalf > math.Max(heapSlack, firstHalf/2) {
		return verdictGrows
	}
	return verdictPlateau
}

// printHostile writes the table: one line per measurement.
func printHostile(w io.Writer, rows []hostileRow) {
	fmt.Fprintln(w, "| target | flood | cap | attempts | kept | RSS MiB | live heap MiB | heap Δ per 10k attempts | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	var prev hostileRow
	for i, r := range rows {
		delta := "—"
		if i > 0 && prev.flood == r.flood && r.attempts > prev.attempts {
			d := (r.mem.heap - prev.mem.heap) / float64(r.attempts-prev.attempts) * 10_000
			delta = fmt.Sprintf("%+.1f MiB", d/(1<<20))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.0f | %.1f | %.1f | %s | %s |\n", r.target, r.flood, r.bound, r.attempts, r.kept,
			float64(r.mem.rssKiB)/1024, r.mem.heap/(1<<20), delta, r.verdict)
		prev = r
	}
}

// errTargetDown means the target process exited during a flood.
var errTargetDown = errors.New("target exited")
