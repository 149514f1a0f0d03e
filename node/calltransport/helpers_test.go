package calltransport

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/test"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

var testSecret = []byte("parley-test-secret-0001")

func newTestLogger(t testing.TB) (*slog.Logger, *test.SyncBuffer) {
	t.Helper()
	return test.Logger(t, slog.LevelDebug)
}

func loopbackV4(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil }

// testServer is a turnsrv server on fresh loopback sockets.
type testServer struct {
	*turnsrv.Server
	udpAddr, tcpAddr string
}

// startTURN runs a TURN server on 127.0.0.1 that relays from
// relayIP (127.0.0.1 if nil).
func startTURN(t testing.TB, relayIP net.IP) *testServer {
	t.Helper()
	if relayIP == nil {
		relayIP = net.IPv4(127, 0, 0, 1)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger, _ := newTestLogger(t)
	srv, err := turnsrv.New(turnsrv.Config{
		Secret:            testSecret,
		RelayIP:           relayIP,
		RelayBindAddr:     relayIP.String(),
		PacketConns:       []net.PacketConn{pc},
		Listeners:         []net.Listener{ln},
		AllowPrivatePeers: true,
		Logger:            logger.With("side", "turn"),
	})
	if err != nil {
		_ = pc.Close()
		_ = ln.Close()
		t.Fatalf("turnsrv.New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &testServer{Server: srv, udpAddr: pc.LocalAddr().String(), tcpAddr: ln.Addr().String()}
}

// turnServer returns ts as an ICEServer over transport ("udp" or "tcp")
// with fresh credentials for deviceID.
func (ts *testServer) turnServer(transport, deviceID string) ICEServer {
	addr := ts.udpAddr
	if transport == "tcp" {
		addr = ts.tcpAddr
	}
	user, pass := turnsrv.Credentials(testSecret, deviceID, time.Hour, time.Now())
	return ICEServer{URL: "turn:" + addr + "?transport=" + transport, Username: user, Password: pass}
}

// legPair is two legs wired to each other: a controls, b is controlled.
// Candidates are trickled directly unless hold says to keep one back;
// held candidates are delivered by release.
type legPair struct {
	t    testing.TB
	a, b *Leg

	mu   sync.Mutex // guards held
	held []heldCandidate
	hold func(cand string) bool
}

type heldCandidate struct {
	to   *Leg
	cand string
}

// newLegPair builds two loopback legs; mod, if set, adjusts each config.
func newLegPair(t testing.TB, mod func(c *Config)) *legPair {
	t.Helper()
	p := &legPair{t: t}
	logger, _ := newTestLogger(t)
	mk := func(controlling bool, side string) *Leg {
		c := Config{
			Controlling:     controlling,
			IncludeLoopback: true,
			IPFilter:        loopbackV4,
			Logger:          logger.With("side", side),
		}
		if mod != nil {
			mod(&c)
		}
		l, err := NewLeg(c)
		if err != nil {
			t.Fatalf("NewLeg(%s): %v", side, err)
		}
		t.Cleanup(func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close(%s): %v", side, err)
			}
		})
		return l
	}
	p.a, p.b = mk(true, "a"), mk(false, "b")
	p.a.OnCandidate(p.forward(p.b))
	p.b.OnCandidate(p.forward(p.a))
	return p
}

func (p *legPair) forward(to *Leg) func(string) {
	return func(c string) {
		p.mu.Lock()
		if p.hold != nil && c != "" && p.hold(c) {
			p.held = append(p.held, heldCandidate{to: to, cand: c})
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if err := to.AddRemoteCandidate(c); err != nil && !errors.Is(err, ErrClosed) {
			p.t.Errorf("AddRemoteCandidate(%q): %v", c, err)
		}
	}
}

// release delivers the held candidates and stops holding.
func (p *legPair) release() {
	p.mu.Lock()
	held := p.held
	p.held, p.hold = nil, nil
	p.mu.Unlock()
	for _, h := range held {
		if err := h.to.AddRemoteCandidate(h.cand); err != nil {
			p.t.Errorf("AddRemoteCandidate(%q): %v", h.cand, err)
		}
	}
}

func (p *legPair) start() {
	p.t.Helper()
	au, ap := p.a.LocalCredentials()
	bu, bp := p.b.LocalCredentials()
	if err := p.a.Start(context.Background(), bu, bp); err != nil {
		p.t.Fatalf("a.Start: %v", err)
	}
	if err := p.b.Start(context.Background(), au, ap); err != nil {
		p.t.Fatalf("b.Start: %v", err)
	}
}

func (p *legPair) waitConnected(d time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for _, l := range []*Leg{p.a, p.b} {
		if err := l.WaitConnected(ctx); err != nil {
			p.t.Fatalf("WaitConnected: %v", err)
		}
	}
}

// testKeys returns per-direction keys for profile: a's local is b's
// remote and the other way round.
func testKeys(t testing.TB, profile srtp.ProtectionProfile) (a, b Keys) {
	t.Helper()
	if profile == 0 {
		profile = DefaultProfile
	}
	kl, err := profile.KeyLen()
	if err != nil {
		t.Fatal(err)
	}
	sl, err := profile.SaltLen()
	if err != nil {
		t.Fatal(err)
	}
	fill := func(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }
	a = Keys{LocalKey: fill(kl, 0xA1), LocalSalt: fill(sl, 0xA2), RemoteKey: fill(kl, 0xB1), RemoteSalt: fill(sl, 0xB2)}
	b = Keys{LocalKey: a.RemoteKey, LocalSalt: a.RemoteSalt, RemoteKey: a.LocalKey, RemoteSalt: a.LocalSalt}
	return a, b
}

func (p *legPair) startMedia() (ma, mb *Media) {
	p.t.Helper()
	ka, kb := testKeys(p.t, 0)
	ma, err := p.a.StartMedia(ka, 0)
	if err != nil {
		p.t.Fatalf("a.StartMedia: %v", err)
	}
	mb, err = p.b.StartMedia(kb, 0)
	if err != nil {
		p.t.Fatalf("b.StartMedia: %v", err)
	}
	return ma, mb
}

// collect reads RTP from m until it fails and returns the packets on a
// channel.
func collect(m *Media) <-chan *rtp.Packet {
	ch := make(chan *rtp.Packet, 4096)
	go func() {
		defer close(ch)
		for {
			p, err := m.ReadRTP()
			if err != nil {
				return
			}
			ch <- p
		}
	}()
	return ch
}

// expect receives n packets from ch within d.
func expect(t testing.TB, ch <-chan *rtp.Packet, n int, d time.Duration) []*rtp.Packet {
	t.Helper()
	var got []*rtp.Packet
	timer := time.NewTimer(d)
	defer timer.Stop()
	for len(got) < n {
		select {
		case p, ok := <-ch:
			if !ok {
				t.Fatalf("reader stopped after %d of %d packets", len(got), n)
			}
			got = append(got, p)
		case <-timer.C:
			t.Fatalf("got %d of %d packets within %v", len(got), n, d)
		}
	}
	return got
}

func testPacket(ssrc uint32, seq uint16, payload []byte) *rtp.Packet {
	return &rtp.Packet{
		Header: rtp.Header{
			Version: 2, PayloadType: 0, SequenceNumber: seq,
			Timestamp: uint32(seq) * 160, SSRC: ssrc,
		},
		Payload: payload,
	}
}

// waitFor polls cond until it returns nil or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still waiting for %s: %v", d, what, err)
		}
		<-tick.C
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
