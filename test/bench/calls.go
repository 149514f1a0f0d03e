package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Goals of the calls bench (from the issue).
const (
	goalSetupMedian = 25 * time.Millisecond // both ends, median, loopback
	goalMediaRatio  = 0.5                   // media path pkts/s ÷ raw SRTP pkts/s
	goalIdleRSSKiB  = 20 * 1024             // per daemon, idle
	goalAudioCPU    = 1.0                   // % of one core per audio-only call
)

// callsOptions are the flags of the calls subcommand.
type callsOptions struct {
	calls    int
	parts    []string
	idle     time.Duration
	callTime time.Duration
}

var allParts = []string{"setup", "media", "daemon"}

// callsCmd parses the calls flags and runs the selected parts in order.
func callsCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("calls", flag.ExitOnError)
	var o callsOptions
	fs.IntVar(&o.calls, "calls", 30, "calls timed between the in-process nodes (at least 20)")
	parts := fs.String("parts", strings.Join(allParts, ","), "parts to run: setup, media, daemon")
	fs.DurationVar(&o.idle, "idle", 5*time.Second, "idle time before the daemons' RSS is read")
	fs.DurationVar(&o.callTime, "call-time", 10*time.Second, "how long each daemon call runs while CPU is measured")
	_ = fs.Parse(args)
	if o.calls < 20 {
		return fmt.Errorf("calls: -calls %d: want at least 20", o.calls)
	}
	if o.idle <= 0 || o.callTime <= 0 {
		return fmt.Errorf("calls: -idle and -call-time must be positive")
	}
	for p := range strings.SplitSeq(*parts, ",") {
		if !slices.Contains(allParts, p) {
			return fmt.Errorf("calls: -parts: unknown part %q (want %s)", p, strings.Join(allParts, ", "))
		}
		o.parts = append(o.parts, p)
	}

	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	fmt.Fprintln(w, "building parleyd, parley, parley-bootstrap…")
	bins, err := env.build(ctx, "parleyd", "parley", "parley-bootstrap")
	if err != nil {
		return err
	}
	for _, p := range o.parts {
		switch p {
		case "setup":
			fmt.Fprintf(w, "\n## Call setup on loopback (in-process nodes)\n\n")
			err = callSetupBench(ctx, w, env, bins.Bootstrap, o.calls)
		case "media":
			fmt.Fprintf(w, "\n## Media path vs raw SRTP (node/calltransport benchmarks)\n\n")
			err = mediaPathBench(ctx, w, "1s")
		case "daemon":
			err = daemonBench(ctx, w, env, bins, o)
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err() // interrupted: whatever failed, failed because of it
		}
		if err != nil {
			return fmt.Errorf("calls %s: %w", p, err)
		}
	}
	return nil
}
