// Command bench measures Parley on this machine and prints markdown tables.
//
//	go run ./test/bench resolve [-nodes 20] [-bootstraps 3] [-lookups 200]
//	go run ./test/bench calls [-calls 30] [-parts setup,media,daemon] [-idle 5s] [-call-time 10s]
//
// resolve starts real parley-bootstrap processes on loopback and N
// in-process nodes, then times cold lookups (no cache, no open connection):
// account ID → account record → presence record → connected device. It
// prints the median and p95 lookup time and each bootstrap's resident
// memory with those nodes registered.
//
// calls measures calls in three parts:
//
//   - setup: two in-process nodes (loopback ICE, the callee auto-answers
//     contacts) place one call after another; for each, the time from
//     alice's StartCall to the call.media event (first decrypted media
//     packet) on each side, taken from the nodes' event streams.
//   - media: runs BenchmarkMediaPath and BenchmarkRawSRTP of
//     node/calltransport with `go test` and compares their packet rates.
//   - daemon: builds parleyd, parley and parley-bootstrap, runs a bootstrap
//     and two daemons, befriends them with the parley CLI and reads each
//     daemon's RSS and CPU time from /proc while idle, during an audio call
//     and during an audio+video call (a synthetic VP8 IVF file).
//
// Everything listens on loopback only. Processes are stopped with SIGTERM
// and the scratch directory removed at the end, on error and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `usage:
  go run ./test/bench resolve [-nodes N] [-bootstraps B] [-lookups L]
  go run ./test/bench calls [-calls N] [-parts setup,media,daemon] [-idle D] [-call-time D]`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usageText)
		os.Exit(2)
	}
	var cmd func(context.Context, io.Writer, []string) error
	switch os.Args[1] {
	case "resolve":
		cmd = resolveCmd
	case "calls":
		cmd = callsCmd
	default:
		fmt.Fprintln(os.Stderr, usageText)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd(ctx, os.Stdout, os.Args[2:])
	stop()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted; processes stopped, scratch directory removed")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
