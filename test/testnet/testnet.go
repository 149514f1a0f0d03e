// Package testnet runs a Parley network inside one process, on loopback:
// bootstrap servers (package bootstrap) and nodes (package node) with real
// libp2p hosts, DHT, TURN, ICE and SRTP, and real bbolt stores under one
// directory. It waits for what such a network does (a node has published,
// a contact or a call is in a state) with package wait, and stops
// everything in order.
//
// The bench and the node tests use it, and so can the demo: it imports no
// testing package and reports errors instead of failing. ForTest adds the
// cleanup a test wants through a small interface that *testing.T
// satisfies.
package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/parleyhq/parley/bootstrap"
	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/wait"
)

// DefaultTimeout bounds each wait when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Loopback are the libp2p listen addresses of every host of the network:
// TCP and QUIC on 127.0.0.1, kernel-chosen ports.
var Loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// TURN configurations for StartBootstrap.
var (
	// TURNLoopback serves STUN and TURN on 127.0.0.1 (kernel-chosen port)
	// and relays to loopback peers.
	TURNLoopback = bootstrap.TURNConfig{ListenAddr: "127.0.0.1:0", AllowPrivatePeers: true}
	// NoTURN runs no STUN/TURN server.
	NoTURN = bootstrap.TURNConfig{Disabled: true}
)

// ErrClosed is returned when starting something on a closed network.
var ErrClosed = errors.New("testnet: network closed")

// Options configure a network.
type Options struct {
	// Dir holds the data directories. Required.
	Dir string
	// Logger receives the servers' and nodes' logs, each tagged with
	// "who". Nil discards them.
	Logger *slog.Logger
	// Bootstraps are the multiaddrs of bootstraps outside the network
	// (parley-bootstrap processes) that every node is given besides the
	// network's own.
	Bootstraps []string
	// Node, when set, changes every node's options, before the edit given
	// to StartNode.
	Node func(*node.Options)
	// Timeout bounds each wait. Defaults to DefaultTimeout.
	Timeout time.Duration
}

// Network is a set of in-process bootstraps and nodes. Close stops them.
type Network struct {
	o Options

	mu         sync.Mutex // guards the following fields
	bootstraps []*Bootstrap
	nodes      []*Node
	closed     bool
}

// New returns an empty network.
func New(o Options) (*Network, error) {
	if o.Dir == "" {
		return nil, errors.New("testnet: Options.Dir is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Network{o: o}, nil
}

// TB is the part of testing.TB that ForTest uses.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// ForTest returns a network for a test: Dir defaults to t.TempDir(), and
// the network is closed (its errors reported) when the test ends.
func ForTest(t TB, o Options) *Network {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	n, err := New(o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return n
}

// Close stops every node (newest first), then every bootstrap, waits for
// them and returns their errors. It is safe to call more than once.
func (n *Network) Close() error {
	n.mu.Lock()
	n.closed = true
	nodes, boots := n.nodes, n.bootstraps
	n.mu.Unlock()
	var errs []error
	for _, x := range slices.Backward(nodes) {
		errs = append(errs, x.Stop())
	}
	for _, b := range slices.Backward(boots) {
		errs = append(errs, b.Stop())
	}
	return errors.Join(errs...)
}

// running is one Run of a server or node in its own goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, valid after done
}

func run(fn func(context.Context) error) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = fn(ctx)
	}()
	return r
}

// stop ends Run and waits for it; cancellation is not an error.
func (r *running) stop() error {
	r.cancel()
	<-r.done
	if errors.Is(r.err, context.Canceled) {
		return nil
	}
	return r.err
}

// Bootstrap is an in-process bootstrap server.
type Bootstrap struct {
	*bootstrap.Server
	// Name labels it in logs; its data is in Dir.
	Name, Dir string
	// Addrs are its full multiaddrs (…/p2p/ID).
	Addrs []string
	run   *running
}

// Stop stops the server and waits for Run to return. Stopping twice is
// harmless.
func (b *Bootstrap) Stop() error {
	if err := b.run.stop(); err != nil {
		return fmt.Errorf("testnet: bootstrap %s: %w", b.Name, err)
	}
	return nil
}

// StartBootstrap starts a bootstrap server on loopback, peered with the
// network's earlier bootstraps, with the given TURN configuration.
func (n *Network) StartBootstrap(turn bootstrap.TURNConfig) (*Bootstrap, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	name := fmt.Sprintf("bootstrap%d", len(n.bootstraps))
	dir := filepath.Join(n.o.Dir, name)
	srv, err := bootstrap.New(bootstrap.Config{
		DataDir: dir, ListenAddrs: Loopback, Peers: n.bootstrapAddrsLocked(),
		TURN: turn, Logger: n.o.Logger.With("who", name),
	})
	if err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", name, err)
	}
	b := &Bootstrap{Server: srv, Name: name, Dir: dir}
	for _, a := range srv.Addrs() {
		b.Addrs = append(b.Addrs, a.String())
	}
	b.run = run(srv.Run)
	n.bootstraps = append(n.bootstraps, b)
	return b, nil
}

// StartBootstraps starts count peered bootstraps.
func (n *Network) StartBootstraps(count int, turn bootstrap.TURNConfig) ([]*Bootstrap, error) {
	var out []*Bootstrap
	for range count {
		b, err := n.StartBootstrap(turn)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
	return out, nil
}

// BootstrapAddrs are the multiaddrs of every bootstrap started so far.
func (n *Network) BootstrapAddrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bootstrapAddrsLocked()
}

func (n *Network) bootstrapAddrsLocked() []string {
	var out []string
	for _, b := range n.bootstraps {
		out = append(out, b.Addrs...)
	}
	return out
}

// InitAccount creates an account with one device called name in a new
// data directory (Dir/name) with a cheap KDF (test keys are thrown away)
// and returns the directory and the identity.
func (n *Network) InitAccount(name string) (string, *apitype.Identity, error) {
	dir := filepath.Join(n.o.Dir, name)
	id, err := node.InitAccount(dir, node.AccountOptions{DeviceName: name, KDF: pcrypto.TestKDFParams})
	if err != nil {
		return "", nil, fmt.Errorf("testnet: account %s: %w", name, err)
	}
	return dir, id, nil
}

// NodeOptions are the options StartNode gives a node on dir before the
// network's and the caller's edits: loopback, every bootstrap (the
// network's and Options.Bootstraps), DHT client mode, loopback ICE
// candidates, bootstrap retries every 250 ms.
func (n *Network) NodeOptions(dir string) node.Options {
	return node.Options{
		DataDir:       dir,
		Bootstraps:    slices.Concat(n.o.Bootstraps, n.BootstrapAddrs()),
		ListenAddrs:   Loopback,
		DHTMode:       "client",
		RetryInterval: 250 * time.Millisecond,
		ICELoopback:   true,
		Logger:        n.o.Logger.With("who", filepath.Base(dir)),
	}
}

// StartNode runs a node on the account in dir (see InitAccount) with
// NodeOptions changed by Options.Node and then by edit (either may be
// nil). It runs until Stop or Close.
func (n *Network) StartNode(dir string, edit func(*node.Options)) (*Node, error) {
	o := n.NodeOptions(dir)
	if n.o.Node != nil {
		n.o.Node(&o)
	}
	if edit != nil {
		edit(&o)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	nd, err := node.New(o)
	if err != nil {
		return nil, fmt.Errorf("testnet: node %s: %w", filepath.Base(dir), err)
	}
	id, err := nd.Identity()
	if err == nil {
		var acct pcrypto.AccountID
		if acct, err = pcrypto.ParseAccountID(id.AccountID); err == nil {
			x := &Node{Node: nd, Name: filepath.Base(dir), Dir: dir, Account: acct, timeout: n.o.Timeout, run: run(nd.Run)}
			n.nodes = append(n.nodes, x)
			return x, nil
		}
	}
	return nil, errors.Join(fmt.Errorf("testnet: node %s: %w", filepath.Base(dir), err), nd.Close())
}

// AddNode creates an account called name (InitAccount) and runs a node
// on it (StartNode).
func (n *Network) AddNode(name string, edit func(*node.Options)) (*Node, error) {
	dir, _, err := n.InitAccount(name)
	if err != nil {
		return nil, err
	}
	return n.StartNode(dir, edit)
}

// Node is an in-process node whose Run is going.
type Node struct {
	*node.Node
	// Name is its data directory's base name; Dir the directory.
	Name, Dir string
	// Account is its account's ID.
	Account pcrypto.AccountID
	timeout time.Duration
	run     *running
}

// Stop ends the node's Run (which closes it) and waits for it. Stopping
// twice is harmless; the directory can be started again.
func (x *Node) Stop() error {
	if err := x.run.stop(); err != nil {
		return fmt.Errorf("testnet: node %s: %w", x.Name, err)
	}
	return nil
}

// waitFor polls cond for up to the network's timeout.
func (x *Node) waitFor(ctx context.Context, what string, cond func() error) error {
	if err := wait.For(ctx, x.timeout, cond); err != nil {
		return fmt.Errorf("testnet: %s: %s: %w", x.Name, what, err)
	}
	return nil
}

// WaitPublished waits until the node has published its presence.
func (x *Node) WaitPublished(ctx context.Context) error {
	return x.waitFor(ctx, "publish", func() error {
		s, err := x.Status()
		if err != nil {
			return err
		}
		return wait.Published(s)
	})
}

// WaitPublished waits until every node has published its presence.
func WaitPublished(ctx context.Context, nodes ...*Node) error {
	for _, x := range nodes {
		if err := x.WaitPublished(ctx); err != nil {
			return err
		}
	}
	return nil
}

// WaitContact waits until account is a contact for which ok holds (see
// wait.ContactIs).
func (x *Node) WaitContact(ctx context.Context, account string, ok func(apitype.Contact) bool) error {
	return x.waitFor(ctx, "contact", func() error {
		cs, err := x.Contacts()
		if err != nil {
			return err
		}
		return wait.Contact(cs, account, ok)
	})
}

// Call returns the node's view of call id.
func (x *Node) Call(id string) (apitype.Call, error) {
	return wait.Call(x.Calls(), id, func(apitype.Call) bool { return true })
}

// WaitCall waits until call id is listed and ok holds for it (see
// wait.CallIs), and returns it; it gives up at once when the call ends
// without ok holding.
func (x *Node) WaitCall(ctx context.Context, id string, ok func(apitype.Call) bool) (apitype.Call, error) {
	var c apitype.Call
	err := x.waitFor(ctx, "call", func() error {
		var err error
		c, err = wait.Call(x.Calls(), id, ok)
		return err
	})
	return c, err
}

// Befriend makes a and b accepted contacts of each other: a sends a
// request, b accepts it, both see the contact accepted, and each holds
// the other's presence key.
func Befriend(ctx context.Context, a, b *Node) error {
	if _, err := a.AddContact(b.Account, "", ""); err != nil {
		return fmt.Errorf("testnet: befriend: %w", err)
	}
	if err := b.WaitContact(ctx, a.Account.String(), wait.ContactIs("request-received")); err != nil {
		return err
	}
	if _, err := b.AcceptContact(a.Account); err != nil {
		return fmt.Errorf("testnet: befriend: %w", err)
	}
	if err := a.WaitContact(ctx, b.Account.String(), wait.ContactIs("accepted")); err != nil {
		return err
	}
	if err := b.WaitContact(ctx, a.Account.String(), wait.ContactIs("accepted")); err != nil {
		return err
	}
	// The accept carried b's presence key to a; a's goes back in an
	// update. Until b holds it, b finds only a's relay addresses.
	return b.waitFor(ctx, "presence key", func() error {
		c, err := b.Store().Contact(a.Account)
		if err != nil {
			return err
		}
		if c.PresenceKey.IsZero() {
			return fmt.Errorf("%s does not hold %s's presence key yet", b.Name, a.Name)
		}
		return nil
	})
}
