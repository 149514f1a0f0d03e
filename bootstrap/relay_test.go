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

// newRelayClientAt is a host listening (and so, with TCP port reuse,
// dialling) from ip.
func newRelayClientAt(t *testing.T, ip string) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/" + ip + "/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestRelaySubnetLimit: the hosts of one /24 hold at most
// MaxReservationsPerSubnet reservations, however many addresses they use,
// while another /24 still gets one; a reservation whose peer left gives
// its place back. (On Linux all of 127.0.0.0/8 is loopback.)
func TestRelaySubnetLimit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Relay.MaxReservationsPerSubnet = 3
	s := start(t, cfg)
	relayInfo := peer.AddrInfo{ID: s.Host().ID()}
	for _, a := range s.Host().Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			relayInfo.Addrs = append(relayInfo.Addrs, a) // TCP dials leave from the listen address
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reserve := func(ip string) (host.Host, error) {
		h := newRelayClientAt(t, ip)
		if err := h.Connect(ctx, relayInfo); err != nil {
			t.Fatal(err)
		}
		if got := s.Host().Network().ConnsToPeer(h.ID()); len(got) == 0 || !strings.Contains(got[0].RemoteMultiaddr().String(), "/ip4/"+ip+"/") {
			t.Fatalf("the relay does not see %s as the client's address: %v", ip, got)
		}
		_, err := client.Reserve(ctx, h, relayInfo)
		return h, err
	}
	var first host.Host
	for i := range 3 {
		h, err := reserve(fmt.Sprintf("127.0.0.%d", 10+i))
		if err != nil {
			t.Fatalf("reservation %d: %v", i+1, err)
		}
		if i == 0 {
			first = h
		}
	}
	if _, err := reserve("127.0.0.20"); err == nil {
		t.Fatal("a fourth address of the same /24 got a reservation")
	}
	if _, err := reserve("127.0.1.10"); err != nil {
		t.Fatalf("another /24: %v", err)
	}
	first.Close()
	ptest.WaitFor(t, 20*time.Second, func() error {
		_, err := reserve("127.0.0.21")
		return err
	})
}
