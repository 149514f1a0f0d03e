package bootstrap

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	ptest "github.com/parleyhq/parley/test"
)

// TestRelay reserves a slot on the bootstrap's circuit relay, relays a
// stream through it between two hosts, and checks that the per-circuit data
// limit resets a connection that tries to carry more.
func TestRelay(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Relay.CircuitData = 64 << 10
	s := start(t, cfg)
	relayInfo := peer.AddrInfo{ID: s.Host().ID(), Addrs: s.Host().Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	callee := newRelayClient(t)
	if err := callee.Connect(ctx, relayInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, callee, relayInfo); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	ptest.WaitFor(t, 10*time.Second, func() error {
		body := get(t, s.MetricsAddr(), "/metrics", http.StatusOK)
		if !strings.Contains(body, "parley_bootstrap_relay_reservations 1\n") {
			return fmt.Errorf("metrics: %s", grepLines(body, "relay_reservations"))
		}
		return nil
	})

	const proto = "/parley/test/echo"
	callee.SetStreamHandler(proto, func(st network.Stream) {
		defer st.Close()
		_, _ = io.Copy(st, st)
	})
	caller := newRelayClient(t)
	circuit := ma.StringCast(fmt.Sprintf("/p2p/%s/p2p-circuit", s.Host().ID()))
	var addrs []ma.Multiaddr
	for _, a := range s.Host().Addrs() {
		addrs = append(addrs, a.Encapsulate(circuit))
	}
	caller.Peerstore().AddAddrs(callee.ID(), addrs, time.Minute)
	sctx := network.WithAllowLimitedConn(ctx, "test")
	echo := func(n int) error {
		st, err := caller.NewStream(sctx, callee.ID(), proto)
		if err != nil {
			return err
		}
		defer st.Close()
		if conn := st.Conn(); !conn.Stat().Limited {
			return fmt.Errorf("stream is not over the relay: %v", conn.RemoteMultiaddr())
		}
		go func() {
			_, _ = st.Write(make([]byte, n))
			_ = st.CloseWrite()
		}()
		got, err := io.ReadAll(st)
		if err != nil {
			return err
		}
		if len(got) != n {
			return fmt.Errorf("echoed %d bytes of %d", len(got), n)
		}
		return nil
	}
	if err := echo(1 << 10); err != nil {
		t.Fatalf("small relayed echo: %v", err)
	}
	if err := echo(256 << 10); err == nil {
		t.Fatal("a relayed connection carried more than the circuit data limit")
	}
}

// newRelayClient is a loopback host with the circuit relay transport.
func newRelayClient(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
