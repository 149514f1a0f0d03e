// Command bench measures Parley on this machine and prints tables.
//
//	go run ./test/bench resolve [-nodes 20] [-bootstraps 3] [-lookups 200]
//
// resolve starts real parley-bootstrap processes on loopback and N
// in-process nodes, then times cold lookups (no cache, no open connection):
// account ID → account record → presence record → connected device. It
// prints the median and p95 lookup time and each bootstrap's resident
// memory with those nodes registered.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/gologshim"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "resolve" {
		fmt.Fprintln(os.Stderr, "usage: go run ./test/bench resolve [-nodes N] [-bootstraps B] [-lookups L]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("resolve", flag.ExitOnError)
	nodes := fs.Int("nodes", 20, "in-process nodes")
	boots := fs.Int("bootstraps", 3, "parley-bootstrap processes")
	lookups := fs.Int("lookups", 200, "timed lookups")
	_ = fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := resolveBench(ctx, os.Stdout, *nodes, *boots, *lookups); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// moduleRoot is the directory holding go.mod, from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

type bootProc struct {
	cmd   *exec.Cmd
	addrs []string
}

// startBootstraps builds parley-bootstrap and starts n peered processes.
func startBootstraps(ctx context.Context, tmp string, n int) ([]*bootProc, error) {
	bin := filepath.Join(tmp, "parley-bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/parley-bootstrap")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build parley-bootstrap: %v\n%s", err, out)
	}
	var procs []*bootProc
	var peers []string
	for i := range n {
		dir := filepath.Join(tmp, fmt.Sprintf("bootstrap%d", i))
		args := []string{"--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1",
			"--turn-disabled", "--metrics-addr", "", "--log-level", "warn"}
		for _, p := range peers {
			args = append(args, "--peer", p)
		}
		logf, err := os.Create(filepath.Join(tmp, fmt.Sprintf("bootstrap%d.log", i)))
		if err != nil {
			return procs, err
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return procs, err
		}
		bp := &bootProc{cmd: cmd}
		procs = append(procs, bp)
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(dir, "addrs.txt"))
			if err == nil && len(strings.Fields(string(b))) > 0 {
				bp.addrs = strings.Fields(string(b))
				break
			}
			if time.Now().After(deadline) {
				return procs, errors.New("parley-bootstrap did not write addrs.txt within 30 s")
			}
			time.Sleep(50 * time.Millisecond) // polling for a file another process writes
		}
		peers = append(peers, bp.addrs...)
	}
	return procs, nil
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return -1
}

func resolveBench(ctx context.Context, w io.Writer, nNodes, nBoots, nLookups int) error {
	tmp, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	procs, err := startBootstraps(ctx, tmp, nBoots)
	defer func() {
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	}()
	if err != nil {
		return err
	}
	var boot []string
	for _, p := range procs {
		boot = append(boot, p.addrs...)
	}
	fmt.Fprintf(w, "started %d bootstraps; starting %d nodes…\n", nBoots, nNodes)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	gologshim.SetDefaultHandler(quiet.Handler())
	type benchNode struct {
		n    *node.Node
		id   string
		peer peer.ID
	}
	var nodes []benchNode
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, nNodes)
	defer func() {
		cancel()
		for range nodes {
			<-done
		}
	}()
	joinStart := time.Now()
	for i := range nNodes {
		dir := filepath.Join(tmp, fmt.Sprintf("node%d", i))
		s, err := node.InitAccount(dir, node.AccountOptions{DeviceName: fmt.Sprintf("n%d", i), KDF: pcrypto.TestKDFParams})
		if err != nil {
			return err
		}
		n, err := node.New(node.Options{
			DataDir: dir, Bootstraps: boot, DHTMode: "client", AccountCacheTTL: -1,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
			Logger:      quiet,
		})
		if err != nil {
			return err
		}
		go func() {
			_ = n.Run(runCtx)
			done <- struct{}{}
		}()
		nodes = append(nodes, benchNode{n: n, id: s.AccountID, peer: peer.ID(n.Keys().DeviceCert.Device)})
	}
	for _, bn := range nodes {
		for {
			s, err := bn.n.Status()
			if err != nil {
				return err
			}
			if !s.Published.IsZero() {
				break
			}
			if time.Since(joinStart) > time.Minute {
				return errors.New("nodes did not publish within a minute")
			}
			time.Sleep(20 * time.Millisecond) // polling the nodes' state
		}
	}
	joined := time.Since(joinStart)

	var took []time.Duration
	failures := 0
	for range nLookups {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a, b := rand.IntN(nNodes), rand.IntN(nNodes-1)
		if b >= a {
			b++
		}
		from, to := nodes[a], nodes[b]
		_ = from.n.Host().Network().ClosePeer(to.peer) // cold: no connection
		start := time.Now()
		l, err := from.n.Lookup(ctx, to.id)
		d := time.Since(start)
		if err != nil || len(l.Devices) == 0 || !l.Devices[0].Connected {
			failures++
			continue
		}
		took = append(took, d)
	}
	slices.Sort(took)
	pct := func(p float64) time.Duration {
		if len(took) == 0 {
			return 0
		}
		return took[min(len(took)-1, int(p*float64(len(took))))]
	}
	fmt.Fprintf(w, "\n| nodes | bootstraps | join+publish (all) | lookups ok | median | p95 | max |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %d | %d | %v | %d/%d | %.2f ms | %.2f ms | %.2f ms |\n", nNodes, nBoots, joined.Round(time.Millisecond),
		len(took), nLookups, ms(pct(0.5)), ms(pct(0.95)), ms(pct(1)))
	fmt.Fprintf(w, "\n| bootstrap | RSS with %d nodes |\n|---|---|\n", nNodes)
	for i, p := range procs {
		fmt.Fprintf(w, "| %d (pid %d) | %.1f MiB |\n", i, p.cmd.Process.Pid, float64(rssKiB(p.cmd.Process.Pid))/1024)
	}
	if failures > 0 {
		return fmt.Errorf("%d of %d lookups failed", failures, nLookups)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
