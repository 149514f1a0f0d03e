package node_test

import (
	"context"
	"errors"
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
)

// quiet is the logger of in-process nodes; set PARLEY_TEST_LOG=1 to see logs.
func quiet(t testing.TB) *slog.Logger {
	if testing.Verbose() && test.Env("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(test.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testBootstrap is one in-process bootstrap server.
type testBootstrap struct {
	srv    *bootstrap.Server
	addrs  []string
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, valid after done
}

// stop stops the server and waits for Run to return; it may be called
// more than once.
func (b *testBootstrap) stop(t testing.TB) {
	t.Helper()
	b.cancel()
	<-b.done
	if b.err != nil {
		t.Errorf("bootstrap Run: %v", b.err)
	}
}

// startBootstraps starts n peered bootstrap servers on loopback.
func startBootstraps(t testing.TB, n int) []*testBootstrap {
	t.Helper()
	var out []*testBootstrap
	var peers []string
	for i := range n {
		b := startBootstrap(t, filepath.Join(t.TempDir(), fmt.Sprintf("bs%d", i)), peers)
		out = append(out, b)
		peers = append(peers, b.addrs...)
	}
	return out
}

func startBootstrap(t testing.TB, dir string, peers []string) *testBootstrap {
	return startBootstrapTURN(t, dir, peers, bootstrap.TURNConfig{Disabled: true})
}

// startBootstrapTURN starts a bootstrap with the given TURN configuration.
func startBootstrapTURN(t testing.TB, dir string, peers []string, turn bootstrap.TURNConfig) *testBootstrap {
	t.Helper()
	srv, err := bootstrap.New(bootstrap.Config{
		DataDir:     dir,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Peers:       peers,
		TURN:        turn,
		Logger:      quiet(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &testBootstrap{srv: srv, cancel: cancel, done: make(chan struct{})}
	for _, a := range srv.Addrs() {
		b.addrs = append(b.addrs, a.String())
	}
	go func() {
		b.err = srv.Run(ctx)
		close(b.done)
	}()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// testNode is one in-process parleyd.
type testNode struct {
	*node.Node
	dir     string
	account pcrypto.AccountID
	cancel  context.CancelFunc
	done    chan error
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

// startNode runs a node on dir until the test ends (or stop is called).
func startNode(t testing.TB, dir string, bs []*testBootstrap) *testNode {
	return startNodeWith(t, dir, bs, nil)
}

// startNodeWith is startNode with a chance to change the options.
func startNodeWith(t testing.TB, dir string, bs []*testBootstrap, edit func(*node.Options)) *testNode {
	t.Helper()
	o := node.Options{
		DataDir:       dir,
		Bootstraps:    bootstrapAddrs(bs),
		ListenAddrs:   []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		DHTMode:       "client",
		RetryInterval: 250 * time.Millisecond,
		LookupTimeout: 3 * time.Second,
		ICELoopback:   true,
		Logger:        quiet(t),
	}
	if edit != nil {
		edit(&o)
	}
	n, err := node.New(o)
	if err != nil {
		t.Fatal(err)
	}
	id, err := n.Identity()
	if err != nil {
		t.Fatal(err)
	}
	acct, err := pcrypto.ParseAccountID(id.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, dir: dir, account: acct, cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

func (n *testNode) stop(t testing.TB) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	if err := <-n.done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("node Run: %v", err)
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
