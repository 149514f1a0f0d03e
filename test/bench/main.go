// Command bench measures Parley on this machine and prints markdown tables.
//
//	go run ./test/bench all [-write]       every part below at full size (minutes); -write updates docs/performance.md
//	go run ./test/bench smoke              every part at a tiny size (CI)
//	go run ./test/bench relay [-window 10s] [-rows 0,2] [-alone]
//	go run ./test/bench dht [-nodes 20,50,100,100@50ms] [-bootstraps 3] [-churn 0.3] [-lookups 100]
//	go run ./test/bench budgets [-idle 10s] [-call-time 10s] [-contacts 50]
//	go run ./test/bench conf [-sizes 2,4,6,8] [-window 10s]
//	go run ./test/bench calls [-calls 30] [-parts setup,media,daemon] [-idle 5s] [-call-time 10s]
//	go run ./test/bench resolve [-nodes 20] [-bootstraps 3] [-lookups 200]
//	go run ./test/bench turnserve -secret-file F [-listen 127.0.0.1:3478] [-cpuprofile F]
//	go run ./test/bench hostile [-scale 1] [-step 10000] [-only NAME]
//	go run ./test/bench keepalive [-window 10s] [-settle 5s] [-loopback]
//
// relay runs coturn's turnserver (the Debian package coturn, installed
// when missing and root) and parley-bootstrap's built-in TURN on loopback
// with the same TURN REST secret, one fresh server per row, and drives both
// with coturn's turnutils_uclient through one turnutils_peer that echoes
// every packet: 50 and 200 allocations at one packet per 20 ms with 160-
// and 1200-byte payloads, and a flood. It prints relayed packets/s, loss,
// server CPU per relayed packet and RSS. -alone adds bootstrap/turnsrv
// without its libp2p host (the turnserve subcommand, also the profiling
// target).
//
// dht runs 3 parley-bootstrap processes and N nodes in DHT server mode:
// 30 % are parleyd processes, paused with SIGSTOP after publishing (silent
// churn: their sockets stay open and answer nothing), the rest in-process
// nodes that time cold lookups of each other before and after the churn.
//
// budgets reads RSS (total and anonymous) and CPU of parley-bootstrap
// idle and of parleyd idle (0 and 50 contacts) and in one audio call.
//
// conf runs conferences of 2, 4, 6 and 8 in-process nodes sending a tone
// and a synthetic VP8 file, and prints CPU and packets per participant.
//
// hostile floods a fresh parley-bootstrap or parleyd per row with one kind
// of junk (DHT records, TURN allocations, credential requests; contact
// requests, update pushes, call offers and sync requests from strangers)
// for a fixed number of attempts and prints its RSS and Go heap every
// -step attempts, and whether it plateaus at its cap (issue 14).
//
// keepalive counts the datagrams per second, by kind (STUN checks, SRTP,
// SRTCP, TURN ChannelData and control), at both ends of a direct and of a
// relayed call between two calltransport legs on real sockets, with the
// bootstrap's TURN server on loopback (issue 16 item 12).
//
// calls and resolve are the earlier benches (call setup, media path,
// daemons in calls; cold lookups without churn).
//
// Everything listens on loopback only. Processes are stopped with SIGTERM
// and the scratch directory removed at the end, on error and on Ctrl-C.
// Progress goes to standard error, tables to standard output.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usageText = `usage:
  go run ./test/bench all [-write]
  go run ./test/bench smoke
  go run ./test/bench relay [-window D] [-rows 0,1,..] [-alone]
  go run ./test/bench dht [-nodes N,N@TIMEOUT,..] [-bootstraps B] [-churn F] [-lookups L] [-lookup-timeout D] [-idle D]
  go run ./test/bench budgets [-idle D] [-call-time D] [-contacts N]
  go run ./test/bench conf [-sizes 2,4,6,8] [-window D]
  go run ./test/bench calls [-calls N] [-parts setup,media,daemon] [-idle D] [-call-time D]
  go run ./test/bench resolve [-nodes N] [-bootstraps B] [-lookups L]
  go run ./test/bench turnserve -secret-file F [-listen ADDR] [-cpuprofile F]
  go run ./test/bench hostile [-scale F] [-step N] [-only NAME]
  go run ./test/bench keepalive [-window D] [-settle D] [-loopback]`

// progressf reports what the bench is doing on standard error, so that
// standard output (and docs/performance.md) holds only the tables.
func progressf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format(time.TimeOnly)}, args...)...)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usageText)
		os.Exit(2)
	}
	var cmd func(context.Context, io.Writer, []string) error
	switch os.Args[1] {
	case "all":
		cmd = allCmd
	case "smoke":
		cmd = smokeCmd
	case "resolve":
		cmd = resolveCmd
	case "calls":
		cmd = callsCmd
	case "relay":
		cmd = relayCmd
	case "conf":
		cmd = confCmd
	case "budgets":
		cmd = budgetsCmd
	case "dht":
		cmd = dhtCmd
	case "turnserve":
		cmd = turnServeCmd
	case "hostile":
		cmd = hostileCmd
	case "keepalive":
		cmd = keepaliveCmd
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
