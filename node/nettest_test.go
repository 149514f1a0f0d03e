package node_test

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/bootstrap"
	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/testnet"
)

// quiet is the logger of in-process nodes; set PARLEY_TEST_LOG=1 to see logs.
func quiet(t testing.TB) *slog.Logger {
	if testing.Verbose() && test.Env("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(test.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testBootstrap is one in-process bootstrap server of the test's network
// (test/testnet).
type testBootstrap struct {
	*testnet.Bootstrap
	srv   *bootstrap.Server
	addrs []string
	net   *testnet.Network
}

// stop stops the server and waits for Run to return; it may be called
// more than once.
func (b *testBootstrap) stop(t testing.TB) {
	t.Helper()
	if err := b.Stop(); err != nil {
		t.Errorf("%v", err)
	}
}

// newNet returns a network for the test, closed when it ends.
func newNet(t testing.TB) *testnet.Network {
	return testnet.ForTest(t, testnet.Options{Logger: quiet(t), Node: func(o *node.Options) { o.LookupTimeout = 3 * time.Second }})
}

// startBootstraps starts n peered bootstrap servers on loopback, in a new
// network of the test.
func startBootstraps(t testing.TB, n int) []*testBootstrap {
	t.Helper()
	return startBootstrapsTURN(t, n, testnet.NoTURN)
}

// startBootstrapsTURN starts n peered bootstraps with the given TURN
// configuration.
func startBootstrapsTURN(t testing.TB, n int, turn bootstrap.TURNConfig) []*testBootstrap {
	t.Helper()
	net := newNet(t)
	bs, err := net.StartBootstraps(n, turn)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*testBootstrap, len(bs))
	for i, b := range bs {
		out[i] = &testBootstrap{Bootstrap: b, srv: b.Server, addrs: b.Addrs, net: net}
	}
	return out
}

// testNode is one in-process parleyd.
type testNode struct {
	*node.Node
	dir     string
	account pcrypto.AccountID
	tn      *testnet.Node
}

func bootstrapAddrs(bs []*testBootstrap) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.addrs...)
	}
	return out
}

// initAccount creates an account in a new data dir.
func initAccount(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if _, err := node.InitAccount(dir, node.AccountOptions{DeviceName: name, KDF: pcrypto.TestKDFParams}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startNode runs a node on dir until the test ends (or stop is called),
// with the bootstraps bs.
func startNode(t testing.TB, dir string, bs []*testBootstrap) *testNode {
	return startNodeWith(t, dir, bs, nil)
}

// startNodeWith is startNode with a chance to change the options.
func startNodeWith(t testing.TB, dir string, bs []*testBootstrap, edit func(*node.Options)) *testNode {
	t.Helper()
	net := newNet(t)
	if len(bs) > 0 {
		net = bs[0].net
	}
	x, err := net.StartNode(dir, func(o *node.Options) {
		o.Bootstraps = bootstrapAddrs(bs)
		if edit != nil {
			edit(o)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{Node: x.Node, dir: dir, account: x.Account, tn: x}
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

func (n *testNode) stop(t testing.TB) {
	if err := n.tn.Stop(); err != nil {
		t.Errorf("%v", err)
	}
}

// waitPublished waits until every node has published its records.
func waitPublished(t testing.TB, nodes ...*testNode) {
	t.Helper()
	for _, n := range nodes {
		test.WaitFor(t, 20*time.Second, func() error {
			s, err := n.Status()
			if err != nil {
				return err
			}
			if s.Published.IsZero() {
				return fmt.Errorf("%s has not published yet", n.dir)
			}
			return nil
		})
	}
}
