package turnsrv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/turn/v5"

	"github.com/parleyhq/parley/internal/turnstream"
)

// streamEnv is a TURN server that also serves TURN over libp2p streams,
// and a client host connected to its host.
type streamEnv struct {
	ts     *testServer
	server host.Host
	dialer *turnstream.Dialer
	ln     *turnstream.Listener
}

func newLoopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func startStreamEnv(t *testing.T) *streamEnv {
	t.Helper()
	e := &streamEnv{ln: turnstream.NewListener(turnstream.ListenerConfig{MaxPerPeer: 4})}
	e.ts = startServer(t, func(c *Config) { c.Listeners = append(c.Listeners, e.ln) })
	e.server = newLoopbackHost(t)
	e.server.SetStreamHandler(turnstream.ID, e.ln.Handle)
	ch := newLoopbackHost(t)
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	if err := ch.Connect(ctx, peer.AddrInfo{ID: e.server.ID(), Addrs: e.server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	e.dialer = &turnstream.Dialer{Host: ch}
	return e
}

// client is a pion TURN client over a new TURN stream, as pion/ice makes
// it for a TCP TURN URL through its proxy dialer.
func (e *streamEnv) client(t *testing.T, username, password string) *turn.Client {
	t.Helper()
	c, err := e.dialer.Dial("tcp4", net.JoinHostPort(turnstream.HostFor(e.server.ID()), "443"))
	if err != nil {
		t.Fatal(err)
	}
	conn := turn.NewSTUNConn(c)
	logger, _ := newTestLogger(t)
	cl, err := turn.NewClient(&turn.ClientConfig{
		Conn: conn, Username: username, Password: password,
		LoggerFactory: slogFactory{l: logger.With("side", "client")},
	})
	if err != nil {
		_ = conn.Close()
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		_ = conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		_ = conn.Close()
	})
	return cl
}

// TestStreamRelay: TURN over a libp2p stream allocates and relays both
// ways, and two allocations of one device (two streams over one
// connection) do not collide.
func TestStreamRelay(t *testing.T) {
	e := startStreamEnv(t)
	user, pass := Credentials(testSecret, "device-a", time.Hour, time.Now())
	peerConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peerConn.Close()
	var relays []net.PacketConn
	for range 2 {
		cl := e.client(t, user, pass)
		relay, err := cl.Allocate()
		if err != nil {
			t.Fatalf("Allocate over a TURN stream: %v", err)
		}
		defer relay.Close()
		if err := cl.CreatePermission(peerConn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		relays = append(relays, relay)
	}
	if got := e.ts.AllocationCount(); got != 2 {
		t.Fatalf("AllocationCount = %d, want 2 (one per stream)", got)
	}
	buf := make([]byte, 1500)
	for i, relay := range relays {
		// Payloads of media size: pion's STUNConn (v5.1.3) holds back a
		// frame shorter than 9 bytes until more arrive, so a 2-byte
		// ChannelData payload would stall; RTP and STUN never are that
		// short.
		ping := fmt.Appendf(nil, "ping %d through a TURN stream", i)
		if _, err := relay.WriteTo(ping, peerConn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = peerConn.SetReadDeadline(time.Now().Add(ioTimeout))
		n, from, err := peerConn.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], ping) || from.String() != relay.LocalAddr().String() {
			t.Fatalf("peer got %q from %v (%v), want %q from %v", buf[:n], from, err, ping, relay.LocalAddr())
		}
		pong := fmt.Appendf(nil, "pong %d back over the stream", i)
		if _, err := peerConn.WriteTo(pong, from); err != nil {
			t.Fatal(err)
		}
		_ = relay.SetReadDeadline(time.Now().Add(ioTimeout))
		if n, _, err = relay.ReadFrom(buf); err != nil || !bytes.Equal(buf[:n], pong) {
			t.Fatalf("client got %q (%v), want %q", buf[:n], err, pong)
		}
	}
	if s := e.ln.Stats(); s.Open != 2 {
		t.Fatalf("listener stats %+v, want 2 open", s)
	}
	assertNoSecretsLogged(t, e.ts.log.String(), pass)
}

// TestStreamAuthRefused: a TURN stream gets no allocation without valid
// credentials; the stream is no way around authentication.
func TestStreamAuthRefused(t *testing.T) {
	e := startStreamEnv(t)
	now := time.Now()
	_, passB := Credentials(testSecret, "device-b", time.Hour, now)
	userA, _ := Credentials(testSecret, "device-a", time.Hour, now)
	for _, tc := range []struct{ name, user, pass string }{
		{"no credentials", "", ""},
		{"wrong password", userA, passB},
		{"expired", func() string { u, _ := Credentials(testSecret, "device-a", -time.Minute, now); return u }(), passB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failBefore := e.ts.metrics.AuthFail.Load()
			cl := e.client(t, tc.user, tc.pass)
			if relay, err := cl.Allocate(); err == nil {
				relay.Close()
				t.Fatal("Allocate succeeded without valid credentials")
			}
			if tc.user != "" && e.ts.metrics.AuthFail.Load() == failBefore {
				t.Error("AuthFail did not increase")
			}
			if got := e.ts.AllocationCount(); got != 0 {
				t.Fatalf("AllocationCount = %d, want 0", got)
			}
		})
	}
}
