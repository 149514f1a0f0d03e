package turnstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/test/wait"
)

const ioTimeout = 5 * time.Second

// newHost starts a libp2p host on loopback TCP.
func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// serve starts a server host with a Listener on it and returns both.
func serve(t *testing.T, cfg ListenerConfig) (host.Host, *Listener) {
	t.Helper()
	h := newHost(t)
	l := NewListener(cfg)
	h.SetStreamHandler(ID, l.Handle)
	t.Cleanup(func() { l.Close() })
	return h, l
}

// client returns a Dialer on a new host connected to server.
func client(t *testing.T, server host.Host) *Dialer {
	t.Helper()
	h := newHost(t)
	ctx, cancel := context.WithTimeout(t.Context(), ioTimeout)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return &Dialer{Host: h}
}

// dial opens a TURN stream to server and writes one byte, so the server
// side sees the stream.
func dial(t *testing.T, d *Dialer, server peer.ID) net.Conn {
	t.Helper()
	c, err := d.Dial("tcp4", net.JoinHostPort(HostFor(server), "443"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	return c
}

// accept takes the next stream from l within ioTimeout.
func accept(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(ioTimeout):
		t.Fatal("no stream accepted")
		return nil
	}
}

// refused asserts that the server reset the client's stream: a read
// fails (not with a timeout).
func refused(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read on a stream the server should have refused returned data")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("stream neither refused nor served: %v", err)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	u := URL(h.ID())
	if want := "turn:" + h.ID().String() + ".p2p.invalid:443?transport=tcp"; u != want {
		t.Fatalf("URL = %q, want %q", u, want)
	}
	if p, ok := PeerOf(HostFor(h.ID())); !ok || p != h.ID() {
		t.Fatalf("PeerOf(HostFor(id)) = %v, %v", p, ok)
	}
	for _, host := range []string{"5.0.0.1", "bootstrap.example", "x.p2p.invalid", ".p2p.invalid", h.ID().String()} {
		if p, ok := PeerOf(host); ok {
			t.Errorf("PeerOf(%q) = %v, want no peer", host, p)
		}
	}
}

// TestListenerAddrs: each stream's RemoteAddr is the client's IP with a
// port of its own (pion keys allocations by five-tuple), LocalAddr the
// listener's address; the client side sees TCP addresses (pion/ice reads a
// *net.TCPAddr).
func TestListenerAddrs(t *testing.T) {
	t.Parallel()
	addr := &net.TCPAddr{IP: net.IPv4(5, 0, 0, 1), Port: 443}
	sh, l := serve(t, ListenerConfig{Addr: addr})
	d := client(t, sh)
	ports := map[int]bool{}
	for range 3 {
		cc := dial(t, d, sh.ID())
		if _, ok := cc.LocalAddr().(*net.TCPAddr); !ok {
			t.Fatalf("client LocalAddr %T, want *net.TCPAddr", cc.LocalAddr())
		}
		sc := accept(t, l)
		ra := sc.RemoteAddr().(*net.TCPAddr)
		if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) || ra.Port == 0 || ports[ra.Port] {
			t.Fatalf("RemoteAddr %v: want 127.0.0.1 with a fresh non-zero port (had %v)", ra, ports)
		}
		ports[ra.Port] = true
		if sc.LocalAddr().String() != addr.String() || l.Addr().String() != addr.String() {
			t.Fatalf("LocalAddr %v, Addr %v, want %v", sc.LocalAddr(), l.Addr(), addr)
		}
		buf := make([]byte, 1)
		_ = sc.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadFull(sc, buf); err != nil {
			t.Fatal(err)
		}
	}
}

// TestListenerBounds: a peer gets MaxPerPeer streams, all peers together
// MaxTotal; more are reset, and a closed stream's place is given back.
func TestListenerBounds(t *testing.T) {
	t.Parallel()
	sh, l := serve(t, ListenerConfig{MaxPerPeer: 2, MaxTotal: 3})
	a, b := client(t, sh), client(t, sh)
	a1 := dial(t, a, sh.ID())
	s1 := accept(t, l)
	dial(t, a, sh.ID())
	accept(t, l)
	refused(t, dial(t, a, sh.ID()))
	dial(t, b, sh.ID())
	accept(t, l)
	refused(t, dial(t, b, sh.ID()))
	if s := l.Stats(); s.Open != 3 || s.Opened != 3 || s.Refused != 2 {
		t.Fatalf("Stats = %+v, want 3 open, 3 opened, 2 refused", s)
	}
	// The server closes a's first stream: a may open another.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	refused(t, a1)
	if err := wait.For(t.Context(), ioTimeout, func() error {
		if n := l.Stats().Open; n != 2 {
			return fmt.Errorf("%d streams open, want 2", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dial(t, a, sh.ID())
	accept(t, l)
}

// TestListenerIdle: a stream silent for IdleTimeout fails its read, as pion
// sees it: the TURN server then closes it, which gives its place back.
func TestListenerIdle(t *testing.T) {
	t.Parallel()
	const idle = 200 * time.Millisecond
	sh, l := serve(t, ListenerConfig{IdleTimeout: idle})
	d := client(t, sh)
	dial(t, d, sh.ID())
	sc := accept(t, l)
	buf := make([]byte, 10)
	if _, err := sc.Read(buf); err != nil { // the byte dial wrote
		t.Fatal(err)
	}
	start := time.Now()
	_, err := sc.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read on a silent stream: %v, want a timeout", err)
	}
	if el := time.Since(start); el < idle {
		t.Fatalf("timed out after %v, before the idle timeout %v", el, idle)
	}
	if err := sc.Close(); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
	if n := l.Stats().Open; n != 0 {
		t.Fatalf("%d streams open after Close", n)
	}
}

// TestListenerClose: Close ends Accept with net.ErrClosed, resets the
// streams waiting for Accept and refuses new ones.
func TestListenerClose(t *testing.T) {
	sh := newHost(t)
	l := NewListener(ListenerConfig{})
	sh.SetStreamHandler(ID, l.Handle)
	d := client(t, sh)
	queued := dial(t, d, sh.ID())
	if err := wait.For(t.Context(), ioTimeout, func() error {
		if l.Stats().Open != 1 {
			return errors.New("stream not queued yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		for err == nil { // the queued stream
			_, err = l.Accept()
		}
		done <- err
	}()
	// The goroutine may take the queued stream before Close: either way
	// Accept must end with net.ErrClosed.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Accept did not return after Close")
	}
	_ = queued
	refused(t, dial(t, d, sh.ID()))
}

// TestDialerDirect: an address that names no peer is dialled over TCP.
func TestDialerDirect(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := &Dialer{Host: newHost(t)}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := d.Dial("udp4", ln.Addr().String()); err == nil {
		t.Fatal("Dial over UDP succeeded")
	}
	// A stream URL's peer that the host cannot reach fails within the
	// timeout.
	other := newHost(t)
	d.Timeout = 300 * time.Millisecond
	other.Close()
	if _, err := d.Dial("tcp4", net.JoinHostPort(HostFor(other.ID()), "443")); err == nil {
		t.Fatal("Dial to an unreachable peer succeeded")
	}
}

// TestConnCloseAfterPeerClosed: the server's Close of a stream the client
// closed first is not an error (it was EOF, and a bootstrap stopping
// after its daemons had hung up exited 1: "turnsrv: close: EOF").
func TestConnCloseAfterPeerClosed(t *testing.T) {
	t.Parallel()
	sh, l := serve(t, ListenerConfig{})
	d := client(t, sh)
	cc := dial(t, d, sh.ID())
	sc := accept(t, l)
	buf := make([]byte, 10)
	if _, err := sc.Read(buf); err != nil { // the byte dial wrote
		t.Fatal(err)
	}
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("read after the client closed: %v, want EOF", err)
	}
	// The client's daemon then stops: its connection goes too.
	if err := d.Host.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait.For(t.Context(), ioTimeout, func() error {
		if len(sh.Network().Conns()) != 0 {
			return errors.New("the server still has a connection")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Fatalf("Close after the client closed and went away: %v", err)
	}
	if n := l.Stats().Open; n != 0 {
		t.Fatalf("%d streams open after Close", n)
	}
}
