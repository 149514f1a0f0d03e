// Command natlab runs Parley's NAT lab: network namespaces with kernel NAT
// between real parleyd, parley and parley-bootstrap processes. It needs
// root, iproute2 and iptables.
//
//	natlab matrix [-runs 3] [-media 2s] [-delays 0,25ms] [-out docs/connectivity.md]
//	natlab up [-delay 25ms] [-loss 0.01] KIND...
//	natlab longcall [-duration 30m]
//	natlab cleanup
//
// matrix calls every ordered pair of NAT kinds (none, cone, symmetric,
// udp-blocked) at each delay, prints the two 4×4 tables (median time to
// media at both ends · path) and writes them with the date, the machine and
// the method to the -out file. up builds a lab with one site per KIND and
// keeps it until interrupted, for poking around with `ip netns exec`.
// longcall runs a relayed call (UDP-blocked to symmetric) and a direct one
// (cone to cone) side by side for -duration with a 30 s circuit relay
// limit, and prints each end's packets, losses, gaps and the daemons' RSS
// at the start and the end (docs/performance.md, "Long calls").
// cleanup deletes the namespaces of labs whose process died without
// tearing them down. SIGINT and SIGTERM tear every lab down.
//
// The lab re-executes this program inside its internet namespace as
// `natlab delayline --queue N=DELAY ...` to delay packets.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/natlab"
)

const usage = `usage:
  natlab matrix [-runs N] [-media D] [-delays D,D] [-out FILE]
  natlab up [-delay D] [-loss P] KIND...   (KIND: none, cone, symmetric, udp-blocked)
  natlab longcall [-duration D]
  natlab cleanup`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1], os.Args[2:])
	stop()
	if downErr := natlab.DownAll(); downErr != nil {
		err = errors.Join(err, downErr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "natlab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	switch cmd {
	case "delayline":
		return natlab.HelperMain(ctx, append([]string{cmd}, args...), os.Stdout)
	case "matrix":
		return matrix(ctx, args)
	case "up":
		return up(ctx, args)
	case "longcall":
		return longcall(ctx, args)
	case "cleanup":
		deleted, err := natlab.CleanupStale(ctx)
		for _, n := range deleted {
			fmt.Println("deleted", n)
		}
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func labOptions() (natlab.Options, error) {
	exe, err := os.Executable()
	if err != nil {
		return natlab.Options{}, err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
	}
	return natlab.Options{Helper: []string{exe}, Logf: logf}, nil
}

func matrix(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	runs := fs.Int("runs", 3, "calls per cell")
	media := fs.Duration("media", 2*time.Second, "media time per call")
	delays := fs.String("delays", "0,25ms", "comma-separated one-way uplink delays, one matrix each")
	out := fs.String("out", filepath.Join(daemon.ModuleRoot(), "docs", "connectivity.md"), "report file (empty: print only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := natlab.Supported(); err != nil {
		return err
	}
	lo, err := labOptions()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "parley-natlab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	lo.Logf("natlab: building the Parley binaries")
	bins, err := natlab.Build(ctx, filepath.Join(tmp, "bin"))
	if err != nil {
		return err
	}
	o := natlab.MatrixOptions{Bins: bins, Dir: tmp, Runs: *runs, Media: *media, Lab: lo}
	var results []*natlab.MatrixResult
	for _, d := range strings.Split(*delays, ",") {
		delay, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return fmt.Errorf("-delays: %w", err)
		}
		o.Delay = delay
		res, err := natlab.RunMatrix(ctx, o)
		if err != nil {
			return err
		}
		fmt.Printf("\n%v one-way delay on every uplink (median time to media at both ends · path):\n\n%s\n", delay, res.Table())
		results = append(results, res)
	}
	if *out == "" {
		return nil
	}
	// Sections measured by other runs (network change, relay failover)
	// follow natlab.KeepMarker and survive a new matrix.
	var kept string
	if old, err := os.ReadFile(*out); err == nil {
		if i := strings.Index(string(old), natlab.KeepMarker); i >= 0 {
			kept = "\n" + string(old[i:])
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := natlab.WriteReport(f, results, o, natlab.ThisMachine(), time.Now()); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(kept); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println("wrote", *out)
	return nil
}

func up(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	delay := fs.Duration("delay", 0, "one-way delay on every uplink")
	loss := fs.Float64("loss", 0, "loss probability on every uplink")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lo, err := labOptions()
	if err != nil {
		return err
	}
	for _, a := range fs.Args() {
		k, err := natlab.ParseKind(a)
		if err != nil {
			return err
		}
		lo.Sites = append(lo.Sites, natlab.SiteConfig{Kind: k, Delay: *delay, Loss: *loss})
	}
	l, err := natlab.Up(ctx, lo)
	if err != nil {
		return err
	}
	defer l.Down()
	fmt.Printf("internet: %s; server host: %s (addresses %v, %v)\n", l.Internet(), l.Server(), natlab.BootstrapAddr, natlab.ProbeAddr)
	for _, s := range l.Sites() {
		fmt.Printf("site %d (%v): router %s (WAN %v), host %s (%v)\n", s.Index, s.Kind, s.Router, s.WANAddr, s.Host, s.HostAddr)
	}
	fmt.Println("ip netns exec NAME COMMAND runs a command in one; Ctrl-C tears the lab down.")
	<-ctx.Done()
	return nil
}

func longcall(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("longcall", flag.ContinueOnError)
	d := fs.Duration("duration", 30*time.Minute, "how long the calls run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lo, err := labOptions()
	if err != nil {
		return err
	}
	lo.Sites = natlab.LongCallCasts.Sites(0, 0)
	tmp, err := os.MkdirTemp("", "parley-natlab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins, err := natlab.Build(ctx, filepath.Join(tmp, "bin"))
	if err != nil {
		return err
	}
	l, err := natlab.Up(ctx, lo)
	if err != nil {
		return err
	}
	defer l.Down()
	s, err := natlab.StartSession(ctx, l, natlab.LongCallCasts, natlab.SessionOptions{Bins: bins, Dir: tmp,
		BootstrapArgs: []string{"--relay-circuit-duration", "30s"}})
	if err != nil {
		return err
	}
	res, err := s.RunLongCalls(ctx, [][2]natlab.Kind{{natlab.UDPBlocked, natlab.Symmetric}, {natlab.Cone, natlab.Cone}}, *d)
	for _, r := range res {
		fmt.Printf("%v → %v for %v: %s %s/%s over %s; received %d / %d packets, lost %d / %d, ICE restarts %d / %d, gaps ms %v / %v; RSS caller %.1f → %.1f MiB, callee %.1f → %.1f MiB %s\n",
			r.Caller, r.Callee, r.Duration.Round(time.Second), r.Path.Kind, r.Path.Local, r.Path.Remote, r.Path.Network,
			r.Received[0], r.Received[1], r.Lost[0], r.Lost[1], r.Restarts[0], r.Restarts[1], r.Gaps[0], r.Gaps[1],
			mib(r.RSSStart[0]), mib(r.RSSEnd[0]), mib(r.RSSStart[1]), mib(r.RSSEnd[1]), r.Err)
	}
	return err
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
