//go:build linux

package turnsrv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/test"
)

// fastClient is a TURN client with an allocation, a channel bound to an
// echoing peer, and the relay as pion's client sees it.
type fastClient struct {
	relay net.PacketConn
	peer  net.PacketConn
}

// newFastClient allocates, permits peer and exchanges datagrams until the
// batched data path relays them: pion's client binds a channel after its
// first Send indication, and from then on uses ChannelData.
func newFastClient(t *testing.T, ts *testServer, peer net.PacketConn) *fastClient {
	t.Helper()
	user, pass := Credentials(testSecret, "device-a", time.Hour, time.Now())
	client, _ := dialTURN(t, ts, "udp", user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	if err := client.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatalf("CreatePermission: %v", err)
	}
	fc := &fastClient{relay: relay, peer: peer}
	waitFor(t, ioTimeout, "the client's channel in the data path", func() (bool, string) {
		_, _ = relay.WriteTo([]byte("bind"), peer.LocalAddr())
		r := ts.fast.relay(relay.LocalAddr())
		if r == nil {
			return false, "relay unknown to the data path"
		}
		r.w.mu.Lock()
		defer r.w.mu.Unlock()
		return len(r.byPeer) == 1, fmt.Sprintf("%d channels", len(r.byPeer))
	})
	return fc
}

// echoPeer answers every datagram it gets with the same bytes until the
// test ends; it records what it got.
type echoPeer struct {
	net.PacketConn
	mu   sync.Mutex // guards got and from
	got  [][]byte
	from []string // the source address of each of got
}

func newEchoPeer(t *testing.T, addr string) *echoPeer {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &echoPeer{PacketConn: pc}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.got = append(p.got, append([]byte(nil), buf[:n]...))
			p.from = append(p.from, from.String())
			p.mu.Unlock()
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
	return p
}

func (p *echoPeer) received(b []byte) bool {
	return p.receivedFrom(b) != ""
}

// receivedFrom returns the source address b came from, or "".
func (p *echoPeer) receivedFrom(b []byte) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, g := range p.got {
		if bytes.Equal(g, b) {
			return p.from[i]
		}
	}
	return ""
}

// readUntil reads from c until it gets want, failing on anything in bad.
func readUntil(t *testing.T, c net.PacketConn, want []byte, bad ...[]byte) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		for _, b := range bad {
			if bytes.Equal(buf[:n], b) {
				t.Fatalf("got %q, which must not be relayed", b)
			}
		}
		if bytes.Equal(buf[:n], want) {
			return
		}
	}
}

// TestFastPathRelays checks that once a channel is bound the data path,
// not pion, relays in both directions, byte for byte, also datagrams of
// 1200 bytes and empty ones.
func TestFastPathRelays(t *testing.T) {
	ts := startServer(t, nil)
	peer := newEchoPeer(t, "127.0.0.1:0")
	fc := newFastClient(t, ts, peer)

	before := ts.metrics.FastRelayed.Load()
	for i, size := range []int{1, 160, 1200, 0} {
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		if _, err := fc.relay.WriteTo(msg, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		readUntil(t, fc.relay, msg)
	}
	// The worker counts after its sends, so the last echo can arrive first.
	waitFor(t, ioTimeout, "FastRelayed to count 4 round trips", func() (bool, string) {
		got := ts.metrics.FastRelayed.Load() - before
		return got >= 8, fmt.Sprintf("grew by %d, want ≥ 8", got)
	})
	if got := ts.metrics.Dropped.Load(); got != 0 {
		t.Errorf("Dropped = %d, want 0", got)
	}
}

// TestFastPathNeedsPermission sends to the relayed address from a peer
// without a permission (another loopback address): the data path drops it
// and the client never sees it.
func TestFastPathNeedsPermission(t *testing.T) {
	ts := startServer(t, nil)
	peer := newEchoPeer(t, "127.0.0.1:0")
	fc := newFastClient(t, ts, peer)

	stranger, err := net.ListenPacket("udp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	defer stranger.Close()
	dropped := ts.metrics.Dropped.Load()
	intruder := []byte("from a peer without a permission")
	if _, err := stranger.WriteTo(intruder, fc.relay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ioTimeout, "the datagram to be dropped", func() (bool, string) {
		return ts.metrics.Dropped.Load() > dropped, "Dropped unchanged"
	})
	legit := []byte("from the permitted peer")
	if _, err := fc.relay.WriteTo(legit, peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	readUntil(t, fc.relay, legit, intruder)
}

// TestFastPathChannelBelongsToClient sends ChannelData on the client's
// channel number from another address: it must not reach the peer.
func TestFastPathChannelBelongsToClient(t *testing.T) {
	ts := startServer(t, nil)
	peer := newEchoPeer(t, "127.0.0.1:0")
	fc := newFastClient(t, ts, peer)

	r := ts.fast.relay(fc.relay.LocalAddr())
	r.w.mu.Lock()
	var num uint16
	for _, ch := range r.byPeer {
		num = ch.num
	}
	r.w.mu.Unlock()

	spoofer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer spoofer.Close()
	spoof := []byte("spoofed channel data")
	msg := binary.BigEndian.AppendUint16(nil, num)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(spoof)))
	msg = append(msg, spoof...)
	srv, _ := net.ResolveUDPAddr("udp4", ts.udpAddr)
	if _, err := spoofer.WriteTo(msg, srv); err != nil {
		t.Fatal(err)
	}
	legit := []byte("the client's own data")
	if _, err := fc.relay.WriteTo(legit, peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	readUntil(t, fc.relay, legit)
	if peer.received(spoof) {
		t.Fatal("the peer got ChannelData sent on the client's channel from another address")
	}
}

// TestFastPathForgetsExpired lets pion expire the permission: the data
// path forgets it and drops what the peer sends from then on.
func TestFastPathForgetsExpired(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.permissionTimeout = time.Second })
	peer := newEchoPeer(t, "127.0.0.1:0")
	fc := newFastClient(t, ts, peer)
	r := ts.fast.relay(fc.relay.LocalAddr())
	waitFor(t, 5*time.Second, "pion to expire the permission", func() (bool, string) {
		r.w.mu.Lock()
		defer r.w.mu.Unlock()
		return len(r.perms) == 0, fmt.Sprintf("%d permissions", len(r.perms))
	})
	dropped := ts.metrics.Dropped.Load()
	if _, err := peer.WriteTo([]byte("after expiry"), fc.relay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ioTimeout, "the datagram to be dropped", func() (bool, string) {
		return ts.metrics.Dropped.Load() > dropped, "Dropped unchanged"
	})
}

// TestFastPathClosesSockets ends allocations, then the server, and checks
// that every socket the data path opened is closed.
func TestFastPathClosesSockets(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		return len(ents)
	}
	baseline := fds()
	ts := startServer(t, nil)
	peer := newEchoPeer(t, "127.0.0.1:0")
	fc := newFastClient(t, ts, peer)
	r := ts.fast.relay(fc.relay.LocalAddr())
	if err := fc.relay.Close(); err != nil { // Refresh with lifetime 0
		t.Fatal(err)
	}
	waitFor(t, ioTimeout, "the relay socket to close", func() (bool, string) {
		r.w.mu.Lock()
		defer r.w.mu.Unlock()
		return r.closed && ts.fast.relay(fc.relay.LocalAddr()) == nil, "relay open"
	})
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	_ = peer.Close()
	waitFor(t, ioTimeout, "descriptors back to the baseline", func() (bool, string) {
		n := fds()
		return n <= baseline+2, strconv.Itoa(n) + " open, baseline " + strconv.Itoa(baseline) // +2: the client's socket and its poller may linger until cleanup
	})
}

// TestFastPathManyClients runs clients in parallel while allocations come
// and go; with -race it checks the data path's locking.
func TestFastPathManyClients(t *testing.T) {
	ts := startServer(t, nil)
	peer := newEchoPeer(t, "127.0.0.1:0")
	const clients, rounds = 8, 50
	var wg sync.WaitGroup
	fcs := make([]*fastClient, clients)
	for i := range fcs {
		fcs[i] = newFastClient(t, ts, peer)
	}
	errs := make(chan error, clients)
	for i, fc := range fcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for j := range rounds {
				msg := []byte(fmt.Sprintf("client %d round %d", i, j))
				if _, err := fc.relay.WriteTo(msg, peer.LocalAddr()); err != nil {
					errs <- err
					return
				}
				_ = fc.relay.SetReadDeadline(time.Now().Add(ioTimeout))
				for {
					n, _, err := fc.relay.ReadFrom(buf)
					if err != nil {
						errs <- fmt.Errorf("client %d round %d: %w", i, j, err)
						return
					}
					if bytes.Equal(buf[:n], msg) {
						break
					}
				}
			}
			if i%2 == 0 {
				_ = fc.relay.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, ioTimeout, "FastRelayed to count every round trip", func() (bool, string) {
		got := ts.metrics.FastRelayed.Load()
		return got >= clients*rounds*2, fmt.Sprintf("FastRelayed = %d, want ≥ %d", got, clients*rounds*2)
	})
}

// TestPionDataPath checks the escape hatch: with PionDataPath the server
// still relays, and the data path is not used.
func TestPionDataPath(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.PionDataPath = true })
	if ts.fast != nil {
		t.Fatal("data path started with PionDataPath set")
	}
	peer := newEchoPeer(t, "127.0.0.1:0")
	user, pass := Credentials(testSecret, "device-a", time.Hour, time.Now())
	client, _ := dialTURN(t, ts, "udp", user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	if err := client.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := []byte("via pion " + strconv.Itoa(i))
		if _, err := relay.WriteTo(msg, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		readUntil(t, relay, msg)
	}
	if got := ts.metrics.FastRelayed.Load(); got != 0 {
		t.Errorf("FastRelayed = %d with PionDataPath", got)
	}
}

// TestFastPathSameChannelNumber gives two clients allocations with the same
// channel number to the same peer: each one's data leaves from its own
// relayed address and each gets only its own echo.
func TestFastPathSameChannelNumber(t *testing.T) {
	ts := startServer(t, nil)
	peer := newEchoPeer(t, "127.0.0.1:0")
	a, b := newFastClient(t, ts, peer), newFastClient(t, ts, peer)
	numA, numB := channelNumber(t, ts, a), channelNumber(t, ts, b)
	if numA != numB {
		t.Logf("channel numbers differ (%#x, %#x); the test still checks isolation", numA, numB)
	}
	for _, tc := range []struct {
		c     *fastClient
		msg   []byte
		other []byte
	}{{a, []byte("from client a"), []byte("from client b")}, {b, []byte("from client b"), []byte("from client a")}} {
		if _, err := tc.c.relay.WriteTo(tc.msg, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		readUntil(t, tc.c.relay, tc.msg, tc.other)
		if got, want := peer.receivedFrom(tc.msg), tc.c.relay.LocalAddr().String(); got != want {
			t.Errorf("%q reached the peer from %s, want its own relayed address %s", tc.msg, got, want)
		}
	}
}

func channelNumber(t *testing.T, ts *testServer, c *fastClient) uint16 {
	t.Helper()
	r := ts.fast.relay(c.relay.LocalAddr())
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	for _, ch := range r.byPeer {
		return ch.num
	}
	t.Fatal("no channel")
	return 0
}

// TestFastPathParksAfterSocketErrors queues an ICMP error on the
// listening socket (IP_RECVERR set, a datagram to a closed port): the
// worker must clear it and park again, not spin on EPOLLERR, and keep
// relaying.
func TestFastPathParksAfterSocketErrors(t *testing.T) {
	ts := startServer(t, nil)
	w := ts.fast.workers[0]
	if err := unix.SetsockoptInt(w.lfd, unix.IPPROTO_IP, unix.IP_RECVERR, 1); err != nil {
		t.Skipf("IP_RECVERR: %v", err)
	}
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.LocalAddr()
	closed.Close()
	before := w.rounds.Load()
	if _, err := (&fastListenConn{w: w}).WriteTo([]byte("to a closed port"), dead); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ioTimeout, "the ICMP error to wake the worker", func() (bool, string) {
		return w.rounds.Load() > before, "no round"
	})
	last := w.rounds.Load()
	waitFor(t, ioTimeout, "the worker to park", func() (bool, string) {
		n := w.rounds.Load()
		stable := n == last
		last = n
		return stable, strconv.FormatUint(n, 10) + " rounds and counting"
	})
	peer := newEchoPeer(t, "127.0.0.1:0")
	fc := newFastClient(t, ts, peer)
	msg := []byte("still relaying")
	if _, err := fc.relay.WriteTo(msg, peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	readUntil(t, fc.relay, msg)
}

// TestFastPathLoopFailure breaks the worker's epoll descriptor under it:
// the worker must stop, and pion's read loop with it, instead of leaving
// the socket unanswered with pion waiting forever.
func TestFastPathLoopFailure(t *testing.T) {
	ts := startServer(t, nil)
	w := ts.fast.workers[0]
	// Both must be running first: a goroutine not yet started shows only
	// its wrapper in a stack dump.
	waitFor(t, ioTimeout, "the worker and pion's read loop to wait", func() (bool, string) {
		worker := test.GoroutinesMatching("turnsrv.(*fpWorker).loop")
		pion := test.GoroutinesMatching("turnsrv.(*fastListenConn).ReadFrom")
		return len(worker) == 1 && len(pion) == 1, fmt.Sprintf("%d workers, %d pion readers", len(worker), len(pion))
	})
	_ = w.epFile.Close()
	waitFor(t, ioTimeout, "the worker and pion's read loop to end", func() (bool, string) {
		g := test.GoroutinesMatching("turnsrv.(*fpWorker).loop", "turnsrv.(*fastListenConn).ReadFrom", "turnsrv.(*fastPath).adopt")
		return len(g) == 0, strings.Join(g, "\n\n")
	})
	if !strings.Contains(ts.log.String(), "turn data path stopped") {
		t.Error("the failure was not logged")
	}
}

// TestFastPathSeveralSockets serves one port from several SO_REUSEPORT
// sockets, one worker each, as parley-bootstrap can: every client relays
// through whichever worker the kernel gave it.
func TestFastPathSeveralSockets(t *testing.T) {
	var addr string
	ts := startServer(t, func(c *Config) {
		_ = c.PacketConns[0].Close()
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			return errors.Join(err, serr)
		}}
		a := "127.0.0.1:0"
		c.PacketConns = nil
		for range 3 {
			pc, err := lc.ListenPacket(context.Background(), "udp4", a)
			if err != nil {
				t.Fatal(err)
			}
			c.PacketConns = append(c.PacketConns, pc)
			a = pc.LocalAddr().String()
		}
		addr = a
	})
	ts.udpAddr = addr
	if got := len(ts.fast.workers); got != 3 {
		t.Fatalf("%d workers, want 3", got)
	}
	peer := newEchoPeer(t, "127.0.0.1:0")
	for i := range 6 {
		fc := newFastClient(t, ts, peer)
		msg := []byte("client " + strconv.Itoa(i))
		if _, err := fc.relay.WriteTo(msg, peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		readUntil(t, fc.relay, msg)
	}
}

// TestFastPathDualStack serves a dual-stack IPv6 socket ("[::]:0") to an
// IPv4 client: the kernel reports the client as an IPv4-mapped address,
// which the data path must match with the plain IPv4 address pion uses.
func TestFastPathDualStack(t *testing.T) {
	var addr string
	ts := startServer(t, func(c *Config) {
		_ = c.PacketConns[0].Close()
		pc, err := net.ListenPacket("udp", "[::]:0")
		if err != nil {
			t.Skipf("no dual-stack socket: %v", err)
		}
		c.PacketConns = []net.PacketConn{pc}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
	})
	ts.udpAddr = addr
	if ts.fast.workers[0].family != unix.AF_INET6 {
		t.Fatal("the worker's socket is not IPv6")
	}
	peer := newEchoPeer(t, "127.0.0.1:0")
	fc := newFastClient(t, ts, peer)
	before := ts.metrics.FastRelayed.Load()
	msg := []byte("through a dual-stack socket")
	if _, err := fc.relay.WriteTo(msg, peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	readUntil(t, fc.relay, msg)
	waitFor(t, ioTimeout, "the data path to relay both ways", func() (bool, string) {
		got := ts.metrics.FastRelayed.Load() - before
		return got >= 2, fmt.Sprintf("FastRelayed grew by %d", got)
	})
}
