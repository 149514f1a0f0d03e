package e2e

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
)

// network is one test's processes on loopback: the built binaries, the
// test's process group and a running parley-bootstrap (with TURN).
type network struct {
	t     *testing.T
	bins  daemon.Binaries
	procs *proc.Group
	boot  []string
}

// newNetwork starts the real parley-bootstrap on loopback for a test.
func newNetwork(t *testing.T) *network {
	t.Helper()
	n := &network{t: t, bins: test.BuildBinaries(t), procs: test.Procs(t)}
	b, err := daemon.StartBootstrap(t.Context(), daemon.BootstrapConfig{
		Bin: n.bins.Bootstrap, Procs: n.procs, Dir: filepath.Join(t.TempDir(), "bootstrap"),
		Args: slices.Concat(daemon.LoopbackBootstrapArgs, daemon.LoopbackTURNArgs),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.boot = b.Addrs
	return n
}

// config is the driver configuration of a daemon named name.
func (n *network) config(name, dir string) daemon.Config {
	return daemon.Config{
		Bins: n.bins, Procs: n.procs, Name: name, Dir: dir,
		RunArgs: slices.Concat(daemon.LoopbackRunArgs, []string{"--log-level", "debug"}),
		Logf:    n.t.Logf,
	}
}

// daemon makes an identity for a new daemon (not started).
func (n *network) daemon(name string) *daemon.Parleyd {
	n.t.Helper()
	d, err := daemon.Init(n.t.Context(), n.config(name, filepath.Join(n.t.TempDir(), name)))
	if err != nil {
		n.t.Fatal(err)
	}
	return d
}

// start runs daemons and waits until each has published.
func (n *network) start(ds ...*daemon.Parleyd) {
	n.t.Helper()
	for _, d := range ds {
		ok(n.t, d.Start(n.t.Context(), n.boot))
	}
}

// ok fails the test on an error.
func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// cli runs parley against a daemon; the command must succeed.
func cli(t *testing.T, d *daemon.Parleyd, args ...string) proc.Result {
	t.Helper()
	r, err := d.CLI(t.Context(), args...)
	ok(t, err)
	return r
}

// cliJSON runs `parley ARGS --json` against a daemon, decoding into v;
// the command must succeed.
func cliJSON(t *testing.T, d *daemon.Parleyd, v any, args ...string) {
	t.Helper()
	ok(t, d.CLIJSON(t.Context(), v, args...))
}
