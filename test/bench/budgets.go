package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test/daemon"
)

// Goals of the node budgets (from the issue).
const (
	goalBootstrapIdleRSSKiB = 20 * 1024
)

// budgetOptions are the flags of the budgets subcommand.
type budgetOptions struct {
	idle     time.Duration
	callTime time.Duration
	contacts int
}

// budgetRow is one line of the budgets table.
type budgetRow struct {
	process, state string
	u              usage
}

// budgetsCmd parses the budgets flags and runs the bench.
func budgetsCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("budgets", flag.ExitOnError)
	var o budgetOptions
	fs.DurationVar(&o.idle, "idle", 10*time.Second, "idle measurement window")
	fs.DurationVar(&o.callTime, "call-time", 10*time.Second, "call measurement window")
	fs.IntVar(&o.contacts, "contacts", 50, "accepted contacts of the second idle daemon")
	_ = fs.Parse(args)
	env, err := newBenchEnv()
	if err != nil {
		return err
	}
	defer env.close()
	bins, err := env.build(ctx, "parleyd", "parley", "parley-bootstrap")
	if err != nil {
		return err
	}
	rows, err := budgetsBench(ctx, env, bins, o)
	if err != nil {
		return err
	}
	printBudgets(w, o, rows)
	return nil
}

// budgetsBench measures parley-bootstrap idle, then three idle parleyd
// (no contacts; o.contacts accepted contacts; no contacts with a Go
// memory limit) and two parleyd in one audio call.
func budgetsBench(ctx context.Context, env *benchEnv, bins daemon.Binaries, o budgetOptions) ([]budgetRow, error) {
	progressf("budgets: parley-bootstrap idle…")
	boots, boot, err := env.startBootstraps(ctx, bins.Bootstrap, 1, turnLoopback...)
	defer func() {
		for _, p := range boots {
			p.Stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	var rows []budgetRow
	u, err := measureProcs(ctx, o.idle, boots[0])
	if err != nil {
		return nil, err
	}
	rows = append(rows, budgetRow{"parley-bootstrap", "idle, no nodes", u[0]})

	progressf("budgets: parleyd idle (0 and %d contacts, and with GOMEMLIMIT)…", o.contacts)
	var ds []*daemon.Parleyd
	defer func() {
		for _, d := range ds {
			_ = d.Stop()
		}
	}()
	specs := []struct {
		name     string
		contacts int
		env      []string
		state    string
	}{
		{"alice", 0, nil, "idle, 0 contacts"},
		{"carol", o.contacts, nil, fmt.Sprintf("idle, %d contacts", o.contacts)},
		{"dave", 0, []string{"GOMEMLIMIT=8MiB", "GOGC=50"}, "idle, 0 contacts, GOMEMLIMIT=8MiB GOGC=50"},
		{"bob", 0, nil, ""},
	}
	for _, s := range specs {
		d, err := env.newDaemon(ctx, bins, s.name, "client", s.env...)
		if err != nil {
			return nil, err
		}
		if err := addFakeContacts(d.Dir, s.contacts); err != nil {
			return nil, err
		}
		ds = append(ds, d)
		if err := d.Start(ctx, boot); err != nil {
			return nil, err
		}
	}
	idle, err := measure(ctx, o.idle, ds[:3]...)
	if err != nil {
		return nil, err
	}
	for i, s := range specs[:3] {
		rows = append(rows, budgetRow{"parleyd", s.state, idle[i]})
	}

	progressf("budgets: parleyd in one audio call…")
	alice, bob := ds[0], ds[3]
	if err := befriendDaemons(ctx, alice, bob); err != nil {
		return nil, err
	}
	call, err := daemonCall(ctx, "audio", alice, bob, o.callTime)
	if err != nil {
		return nil, fmt.Errorf("audio call: %w", err)
	}
	rows = append(rows, budgetRow{"parleyd", "in one audio call (caller)", call.u[0]},
		budgetRow{"parleyd", "in one audio call (callee)", call.u[1]})
	return rows, nil
}

// befriendDaemons makes a and b accepted contacts through the CLI and lets
// b auto-answer a's calls.
func befriendDaemons(ctx context.Context, a, b *daemon.Parleyd) error {
	if err := daemon.Befriend(ctx, a, b); err != nil {
		return fmt.Errorf("befriend: %w", err)
	}
	_, err := b.CLI(ctx, "set", string(node.SettingAutoAnswer), "contacts")
	return err
}

// addFakeContacts writes n accepted contacts with fresh random account IDs
// into the store in dir (before the daemon runs). They are offline: the
// daemon knows them but finds no presence for them.
func addFakeContacts(dir string, n int) error {
	if n == 0 {
		return nil
	}
	st, err := store.Open(dir, &store.Options{})
	if err != nil {
		return fmt.Errorf("fake contacts: %w", err)
	}
	defer st.Close()
	for i := range n {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			return fmt.Errorf("fake contacts: %w", err)
		}
		c := store.Contact{AccountID: pcrypto.AccountIDFromPublicKey(pub), Name: fmt.Sprintf("contact%d", i), State: store.Accepted}
		if err := st.PutContact(c); err != nil {
			return fmt.Errorf("fake contacts: %w", err)
		}
	}
	return nil
}

// printBudgets prints the budgets table and the goals.
func printBudgets(w io.Writer, o budgetOptions, rows []budgetRow) {
	fmt.Fprintf(w, "Real binaries on loopback: one `parley-bootstrap` (STUN/TURN on), `parleyd run --dht-mode client --ice-loopback` daemons. "+
		"Idle windows %v, call window %v (`parley call BOB --audio tone`, bob auto-answers). "+
		"The %d contacts are accepted contacts with random account IDs written into the store before the daemon starts (offline accounts). "+
		"RSS = VmRSS; anon = RssAnon (heap, stacks); the rest of RSS is file-backed pages of the binary (shared, clean, reclaimable). "+
		"CPU = utime+stime over the window, %% of one core (one clock tick = %.2f %% over an idle window).\n\n",
		o.idle, o.callTime, o.contacts, 100*0.01/o.idle.Seconds())
	fmt.Fprintf(w, "| process | state | RSS | anon | file-backed | CPU |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.1f MiB | %.1f MiB | %.1f MiB | %.2f %% |\n", r.process, r.state,
			mib(r.u.rssKiB), mib(r.u.anonKiB), mib(r.u.rssKiB-r.u.anonKiB), r.u.cpu)
	}
	for _, r := range rows {
		switch {
		case r.process == "parleyd" && r.state == "idle, 0 contacts":
			fmt.Fprintf(w, "\nGoal parleyd idle RSS ≤ 20 MB: %s (%.1f MiB total; anonymous part %.1f MiB).",
				verdict(r.u.rssKiB <= goalIdleRSSKiB), mib(r.u.rssKiB), mib(r.u.anonKiB))
		case r.process == "parley-bootstrap" && r.state == "idle, no nodes":
			fmt.Fprintf(w, "\nGoal parley-bootstrap idle RSS ≤ 20 MB: %s (%.1f MiB total; anonymous part %.1f MiB).",
				verdict(r.u.rssKiB <= goalBootstrapIdleRSSKiB), mib(r.u.rssKiB), mib(r.u.anonKiB))
		}
	}
	fmt.Fprintln(w)
}
