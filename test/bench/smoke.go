package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/parleyhq/parley/internal/pktcount"
)

// smokeCmd runs every part of the harness at a tiny size, for CI: the
// numbers mean little, but every code path (coturn and parley-bootstrap
// under uclient, silent churn with paused parleyd, idle and in-call
// budgets, call setup, the media path benchmarks, a conference) runs and
// must produce a measurement, so the harness cannot rot.
// smokeHostileScale shrinks the hostile floods to a few hundred attempts
// each (the bootstrap's and the daemon's), some seconds in all.
const smokeHostileScale = 0.02

func smokeCmd(ctx context.Context, w io.Writer, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("smoke: takes no arguments")
	}
	start := time.Now()
	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	progressf("smoke: building parleyd, parley, parley-bootstrap…")
	bins, err := env.build(ctx, "parleyd", "parley", "parley-bootstrap")
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "## relay\n\n")
	rr, err := relayBench(ctx, w, env, relayOptions{window: time.Second, loads: []relayLoad{{"VoIP", 2, 160, 20 * time.Millisecond}}})
	if err != nil {
		return err
	}
	for _, r := range rr {
		if r.relayed == 0 {
			return fmt.Errorf("smoke: relay %s: %w: nothing relayed", r.server, ErrGoalMissed)
		}
	}

	fmt.Fprintf(w, "\n## dht\n\n")
	dr, err := dhtBench(ctx, w, env, bins, dhtOptions{sizes: []dhtSize{{5, 2 * time.Second}}, boots: 1, churn: 0.3, lookups: 5, idle: time.Second})
	if err != nil {
		return err
	}
	if len(dr) != 1 || dr[0].okBefore == 0 || dr[0].silent == 0 {
		return fmt.Errorf("smoke: dht: %w: %+v", ErrGoalMissed, dr)
	}

	fmt.Fprintf(w, "\n## budgets\n\n")
	bo := budgetOptions{idle: time.Second, callTime: 2 * time.Second, contacts: 3}
	rows, err := budgetsBench(ctx, env, bins, bo)
	if err != nil {
		return err
	}
	printBudgets(w, bo, rows)

	fmt.Fprintf(w, "\n## call setup\n\n")
	if err := callSetupBench(ctx, w, env, bins.Bootstrap, 3); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n## media path\n\n")
	if err := mediaPathBench(ctx, w, "20x"); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n## conference\n\n")
	cr, err := confBench(ctx, w, env, bins.Bootstrap, confOptions{sizes: []int{2}, window: time.Second})
	if err != nil {
		return err
	}
	if len(cr) != 1 || cr[0].recvPPS == 0 {
		return fmt.Errorf("smoke: conference: %w: %+v", ErrGoalMissed, cr)
	}
	fmt.Fprintf(w, "\n## keepalive\n\n")
	kr, err := keepaliveBench(ctx, keepaliveOptions{settle: time.Second, window: time.Second})
	if err != nil {
		return err
	}
	printKeepalive(w, kr)
	for _, r := range kr {
		if media, _ := r.a.Sum(pktcount.Kind.Media); media == 0 {
			return fmt.Errorf("smoke: keepalive %s: %w: no media counted", r.name, ErrGoalMissed)
		}
	}
	fmt.Fprintf(w, "\n## hostile\n\n")
	hr, err := hostileBench(ctx, env, bins, hostileOptions{scale: smokeHostileScale})
	printHostile(w, hr)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nsmoke: every part ran in %v\n", time.Since(start).Round(time.Second))
	return nil
}
