package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/test/testnet"
)

// resolveCmd parses the resolve flags and runs the bench.
func resolveCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("resolve", flag.ExitOnError)
	nodes := fs.Int("nodes", 20, "in-process nodes")
	boots := fs.Int("bootstraps", 3, "parley-bootstrap processes")
	lookups := fs.Int("lookups", 200, "timed lookups")
	_ = fs.Parse(args)
	if *nodes < 2 || *boots < 1 || *lookups < 1 {
		return fmt.Errorf("resolve: need -nodes ≥ 2, -bootstraps ≥ 1, -lookups ≥ 1")
	}
	return resolveBench(ctx, w, *nodes, *boots, *lookups)
}

func resolveBench(ctx context.Context, w io.Writer, nNodes, nBoots, nLookups int) error {
	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	bins, err := env.build(ctx, "parley-bootstrap")
	if err != nil {
		return err
	}
	procs, boot, err := env.startBootstraps(ctx, bins.Bootstrap, nBoots, append([]string{"--turn-disabled"}, loopbackRelayArgs...)...)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "started %d bootstraps; starting %d nodes…\n", nBoots, nNodes)

	net, err := env.nodeNetwork("resolve", boot, func(o *node.Options) {
		o.AccountCacheTTL = -1
		o.RetryInterval, o.ICELoopback = 0, false // node defaults: lookups only
	})
	if err != nil {
		return err
	}
	defer net.Close()
	joinStart := time.Now()
	var nodes []*testnet.Node
	for i := range nNodes {
		n, err := net.AddNode(fmt.Sprintf("n%d", i), nil)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	if err := testnet.WaitPublished(ctx, nodes...); err != nil {
		return err
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
		_ = from.Host().Network().ClosePeer(peer.ID(to.Keys().DeviceCert.Device)) // cold: no connection
		start := time.Now()
		l, err := from.Lookup(ctx, to.Account)
		d := time.Since(start)
		if err != nil || len(l.Devices) == 0 || !l.Devices[0].Connected {
			failures++
			continue
		}
		took = append(took, d)
	}
	s := summarize(took)
	fmt.Fprintf(w, "\n| nodes | bootstraps | join+publish (all) | lookups ok | median | p95 | max |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %d | %d | %v | %d/%d | %.2f ms | %.2f ms | %.2f ms |\n", nNodes, nBoots, joined.Round(time.Millisecond),
		len(took), nLookups, ms(s.median), ms(s.p95), ms(s.max))
	fmt.Fprintf(w, "\n| bootstrap | RSS with %d nodes |\n|---|---|\n", nNodes)
	for i, p := range procs {
		rss, err := rssKiB(p.PID())
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| %d (pid %d) | %.1f MiB |\n", i, p.PID(), mib(rss))
	}
	if failures > 0 {
		return fmt.Errorf("%d of %d lookups failed", failures, nLookups)
	}
	return nil
}
