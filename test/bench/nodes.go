package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/gologshim"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/testnet"
)

// bootstrapStart bounds the wait for a parley-bootstrap to write its
// addresses, or to answer STUN.
const bootstrapStart = 30 * time.Second

// startBootstraps starts n peered parley-bootstrap processes on loopback
// (with extra flags) and returns them with all their multiaddrs.
// loopbackRelayArgs lift the relay's per-address reservation caps: on
// loopback every node of a bench shares one IP, which the caps (8 per IP,
// 16 per /24) count as one host, so past 8 nodes most of them would hold
// no reservation and publish no relay address. Their presence records
// seal every other address (docs/protocol.md, "Presence for contacts
// only"), so a lookup by a stranger (every bench lookup) could not reach
// them, which on a real network, one IP per device, does not happen.
var loopbackRelayArgs = []string{"--relay-max-reservations", "4096", "--relay-max-reservations-per-ip", "4096", "--relay-max-reservations-per-subnet", "4096"}

func (e *benchEnv) startBootstraps(ctx context.Context, bin string, n int, extra ...string) ([]*proc.Proc, []string, error) {
	var procs []*proc.Proc
	var all []string
	for i := range n {
		// A fresh directory per process: a reused one would still hold the
		// addrs.txt of an earlier run (same key, dead ports).
		name := fmt.Sprintf("bootstrap%d", e.bootstraps)
		e.bootstraps++
		b, err := daemon.StartBootstrap(ctx, daemon.BootstrapConfig{
			Bin: bin, Procs: e.procs, Name: name, Dir: e.path(name), Peers: all, Timeout: bootstrapStart,
			Args: slices.Concat(daemon.LoopbackBootstrapArgs, []string{"--log-level", "warn"}, extra),
		})
		if err != nil {
			return procs, nil, fmt.Errorf("parley-bootstrap %d: %w", i, err)
		}
		procs = append(procs, b.Proc)
		all = append(all, b.Addrs...)
	}
	return procs, all, nil
}

// quietLogs sends the logs of in-process nodes and of libp2p nowhere and
// returns the logger for node.Options.
func quietLogs() *slog.Logger {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	gologshim.SetDefaultHandler(quiet.Handler())
	return quiet
}

// nodeNetwork is an in-process network in the scratch directory whose
// nodes use the given parley-bootstrap processes, with testnet's node
// options (loopback, DHT client, loopback ICE candidates, bootstrap
// retries every 250 ms) changed by edit.
func (e *benchEnv) nodeNetwork(dir string, boot []string, edit func(*node.Options)) (*testnet.Network, error) {
	return testnet.New(testnet.Options{Dir: e.path(dir), Logger: quietLogs(), Bootstraps: boot, Node: edit})
}
