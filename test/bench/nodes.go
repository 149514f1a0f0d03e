package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/gologshim"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
)

// bootstrapStart bounds the wait for a parley-bootstrap to write its
// addresses.
const bootstrapStart = 30 * time.Second

// startBootstraps starts n peered parley-bootstrap processes on loopback
// (with extra flags) and returns them with all their multiaddrs.
func (e *benchEnv) startBootstraps(ctx context.Context, bin string, n int, extra ...string) ([]*proc, []string, error) {
	var procs []*proc
	var all []string
	for i := range n {
		// A fresh directory per process: a reused one would still hold the
		// addrs.txt of an earlier run (same key, dead ports).
		name := fmt.Sprintf("bootstrap%d", e.bootstraps)
		e.bootstraps++
		dir := e.path(name)
		args := []string{"--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1",
			"--metrics-addr", "", "--log-level", "warn"}
		args = append(args, extra...)
		for _, p := range all {
			args = append(args, "--peer", p)
		}
		p, err := e.start(name, bin, args...)
		if err != nil {
			return procs, nil, err
		}
		procs = append(procs, p)
		var addrs []string
		err = poll(ctx, bootstrapStart, func() error {
			if p.exited() {
				return stopPolling{p.failure("exited at start")}
			}
			b, err := os.ReadFile(filepath.Join(dir, "addrs.txt"))
			if err != nil {
				return err
			}
			if addrs = strings.Fields(string(b)); len(addrs) == 0 {
				return errors.New("addrs.txt is empty")
			}
			return nil
		})
		if err != nil {
			return procs, nil, fmt.Errorf("parley-bootstrap %d: %w", i, err)
		}
		all = append(all, addrs...)
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

// runningNode is an in-process node whose Run is going.
type runningNode struct {
	*node.Node
	account string
	done    chan error // Run's result
}

// nodeGroup runs in-process nodes under one context; stop ends them all
// and waits for their Run to return.
type nodeGroup struct {
	ctx    context.Context
	cancel context.CancelFunc
	nodes  []*runningNode
}

func newNodeGroup(parent context.Context) *nodeGroup {
	ctx, cancel := context.WithCancel(parent)
	return &nodeGroup{ctx: ctx, cancel: cancel}
}

// start creates an account in dir (cheap KDF: no passphrase is set) and
// runs a node on it with options o (DataDir is set here).
func (g *nodeGroup) start(dir, name string, o node.Options) (*runningNode, error) {
	id, err := node.InitAccount(dir, node.AccountOptions{DeviceName: name, KDF: pcrypto.TestKDFParams})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	o.DataDir = dir
	n, err := node.New(o)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	rn := &runningNode{Node: n, account: id.AccountID, done: make(chan error, 1)}
	g.nodes = append(g.nodes, rn)
	go func() { rn.done <- n.Run(g.ctx) }()
	return rn, nil
}

func (g *nodeGroup) stop() {
	g.cancel()
	for _, n := range g.nodes {
		<-n.done
	}
}

// waitPublished waits until every node has published its presence.
func waitPublished(ctx context.Context, timeout time.Duration, nodes ...*runningNode) error {
	for _, n := range nodes {
		err := poll(ctx, timeout, func() error {
			s, err := n.Status()
			if err != nil {
				return err
			}
			if s.Published.IsZero() {
				return fmt.Errorf("%s has not published its presence", n.account)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("wait for publish: %w", err)
		}
	}
	return nil
}
