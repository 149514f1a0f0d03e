package natlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/test/wait"
)

// echoServer answers every UDP datagram with the sender's address as seen
// by the server ("ip:port"), and every TCP connection likewise.
type echoServer struct {
	udp []*net.UDPConn
	tcp net.Listener
}

func startEcho(t *testing.T, l *Lab, addrs ...netip.AddrPort) *echoServer {
	t.Helper()
	e := &echoServer{}
	err := l.Do(l.Server(), func() error {
		for i, a := range addrs {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
			if err != nil {
				return err
			}
			e.udp = append(e.udp, c)
			if i == 0 {
				if e.tcp, err = net.Listen("tcp4", a.String()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.udp {
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				reply := append([]byte(from.String()+" "), buf[:n]...)
				_, _ = c.WriteToUDPAddrPort(reply, from)
			}
		}()
	}
	go func() {
		for {
			conn, err := e.tcp.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte(conn.RemoteAddr().String()))
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		for _, c := range e.udp {
			c.Close()
		}
		e.tcp.Close()
	})
	return e
}

// probe sends one datagram from c to dst and returns the address the echo
// server saw, or an error when nothing came back within wait.
func probe(c *net.UDPConn, dst netip.AddrPort, wait time.Duration) (netip.AddrPort, error) {
	tag := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	if _, err := c.WriteToUDPAddrPort([]byte(tag), dst); err != nil {
		return netip.AddrPort{}, err
	}
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return netip.AddrPort{}, err
		}
		seen, rest, _ := strings.Cut(string(buf[:n]), " ")
		if rest != tag {
			continue // a late answer to an earlier probe
		}
		return netip.ParseAddrPort(seen)
	}
}

func listenIn(t *testing.T, l *Lab, ns string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := l.Do(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestNATKinds checks each router kind against its definition with UDP
// probes from the site's host to two internet addresses: the mapping
// (same public port for both destinations or not), the filtering (a third
// endpoint cannot reach the mapping), that unsolicited packets are dropped
// silently (no ICMP back), that a UDP-blocked site still has TCP, and that
// a tcp443 site has TCP to port 443 and nothing else.
func TestNATKinds(t *testing.T) {
	t.Parallel()
	l := newLab(t, SiteConfig{Kind: None}, SiteConfig{Kind: Cone}, SiteConfig{Kind: Symmetric}, SiteConfig{Kind: UDPBlocked}, SiteConfig{Kind: TCP443})
	a1 := netip.AddrPortFrom(BootstrapAddr, 7000)
	a2 := netip.AddrPortFrom(ProbeAddr, 7000)
	other := netip.AddrPortFrom(ProbeAddr, 7001)
	https := netip.AddrPortFrom(BootstrapAddr, 443)
	startEcho(t, l, a1, a2, other)
	startEcho(t, l, https)
	for _, s := range l.Sites() {
		t.Run(s.Kind.String(), func(t *testing.T) {
			c := listenIn(t, l, s.Host)
			local := netip.MustParseAddrPort(c.LocalAddr().String())
			m1, err1 := probe(c, a1, time.Second)
			switch s.Kind {
			case UDPBlocked:
				if err1 == nil {
					t.Fatalf("UDP left a udp-blocked site: seen as %v", m1)
				}
				checkTCP(t, l, s, a1)
				return
			case TCP443:
				if err1 == nil {
					t.Fatalf("UDP left a tcp443 site: seen as %v", m1)
				}
				if m, err := probe(c, https, time.Second); err == nil {
					t.Fatalf("UDP to port 443 left a tcp443 site: seen as %v", m)
				}
				checkTCP(t, l, s, https)
				checkNoTCP(t, l, s, a1)
				return
			}
			if err1 != nil {
				t.Fatalf("probe to %v: %v", a1, err1)
			}
			m2, err := probe(c, a2, time.Second)
			if err != nil {
				t.Fatalf("probe to %v: %v", a2, err)
			}
			t.Logf("host %v seen as %v by %v and as %v by %v", netip.AddrPortFrom(s.HostAddr, local.Port()), m1, a1, m2, a2)
			wantAddr := s.WANAddr
			if s.Kind == None {
				wantAddr = s.HostAddr
			}
			if m1.Addr() != wantAddr || m2.Addr() != wantAddr {
				t.Fatalf("seen from %v and %v, want %v", m1.Addr(), m2.Addr(), wantAddr)
			}
			switch s.Kind {
			case None:
				if m1.Port() != local.Port() || m2.Port() != local.Port() {
					t.Fatalf("public host's port changed: %v, %v, local %v", m1, m2, local)
				}
			case Cone:
				if m1 != m2 {
					t.Fatalf("cone NAT mapped one socket to %v and %v (want endpoint-independent)", m1, m2)
				}
			case Symmetric:
				if m1 == m2 {
					t.Fatalf("symmetric NAT kept %v for two destinations", m1)
				}
			}
			if s.Kind != None {
				checkFiltered(t, l, c, m1, other)
				checkSilentDrop(t, l, s)
			}
		})
	}
}

// checkFiltered: a packet from an endpoint the host never sent to does not
// reach it through its mapping; once the host sends there, replies do.
func checkFiltered(t *testing.T, l *Lab, c *net.UDPConn, mapped, other netip.AddrPort) {
	t.Helper()
	var stranger *net.UDPConn
	err := l.Do(l.Server(), func() (err error) {
		stranger, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ProbeAddr, 0)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if _, err := stranger.WriteToUDPAddrPort([]byte("unsolicited"), mapped); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 100)
	if n, from, err := c.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("unsolicited packet from %v passed the NAT: %q", from, buf[:n])
	}
	if _, err := probe(c, other, time.Second); err != nil {
		t.Fatalf("after sending to %v its answer did not pass: %v", other, err)
	}
}

// checkSilentDrop: a packet to an unmapped port of the router's WAN
// address gets no ICMP port-unreachable (a connected UDP socket would see
// it as ECONNREFUSED).
func checkSilentDrop(t *testing.T, l *Lab, s *Site) {
	t.Helper()
	var c *net.UDPConn
	err := l.Do(l.Server(), func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.WANAddr, 9)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	for range 3 {
		_, _ = c.Write([]byte("knock"))
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("router answered an unsolicited packet (want a silent drop): %v", err)
		}
	}
}

func checkTCP(t *testing.T, l *Lab, s *Site, dst netip.AddrPort) {
	t.Helper()
	var conn net.Conn
	err := l.Do(s.Host, func() (err error) {
		conn, err = net.DialTimeout("tcp4", dst.String(), 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("TCP from a %v site to %v: %v", s.Kind, dst, err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 100)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if seen, err := netip.ParseAddrPort(string(buf[:n])); err != nil || seen.Addr() != s.WANAddr {
		t.Fatalf("TCP seen as %q (%v), want from %v", buf[:n], err, s.WANAddr)
	}
}

// checkNoTCP asserts that a TCP connection from the site's host to dst
// cannot be made.
func checkNoTCP(t *testing.T, l *Lab, s *Site, dst netip.AddrPort) {
	t.Helper()
	err := l.Do(s.Host, func() error {
		conn, err := net.DialTimeout("tcp4", dst.String(), time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	})
	if err == nil {
		t.Fatalf("TCP to %v left a %v site", dst, s.Kind)
	}
}

// TestDelayLine measures the impairments: a site with a 30 ms uplink delay
// sees ≈ 30 ms round trips to the bootstrap (only upstream is delayed) with
// packets kept in order, and a site with 30% loss loses about that share.
// It does not run in parallel: other labs' load would skew the timing.
func TestDelayLine(t *testing.T) {
	const delay = 30 * time.Millisecond
	l := newLab(t, SiteConfig{Kind: Cone, Delay: delay}, SiteConfig{Kind: None, Loss: 0.3})
	dst := netip.AddrPortFrom(BootstrapAddr, 7000)
	startEcho(t, l, dst)

	t.Run("delay", func(t *testing.T) {
		c := listenIn(t, l, l.Sites()[0].Host)
		var rtts []time.Duration
		for range 15 {
			start := time.Now()
			if _, err := probe(c, dst, time.Second); err != nil {
				t.Fatal(err)
			}
			rtts = append(rtts, time.Since(start))
		}
		slices.Sort(rtts)
		t.Logf("RTT through a %v uplink: min %v, median %v, max %v", delay, rtts[0], rtts[len(rtts)/2], rtts[len(rtts)-1])
		if rtts[0] < delay || rtts[len(rtts)/2] > delay+20*time.Millisecond {
			t.Fatalf("RTT min %v, median %v; want ≥ %v and median within 20 ms of it", rtts[0], rtts[len(rtts)/2], delay)
		}
	})
	t.Run("order", func(t *testing.T) {
		c := listenIn(t, l, l.Sites()[0].Host)
		const n = 200
		for i := range n {
			if _, err := c.WriteToUDPAddrPort(fmt.Appendf(nil, "%04d", i), dst); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 100)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for i := range n {
			k, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("after %d replies: %v", i, err)
			}
			_, seq, _ := strings.Cut(string(buf[:k]), " ")
			if want := fmt.Sprintf("%04d", i); seq != want {
				t.Fatalf("reply %d is for packet %s: the delay line reordered", i, seq)
			}
		}
	})
	t.Run("loss", func(t *testing.T) {
		c := listenIn(t, l, l.Sites()[1].Host)
		const n = 400
		for i := range n {
			if _, err := c.WriteToUDPAddrPort(fmt.Appendf(nil, "%d", i), dst); err != nil {
				t.Fatal(err)
			}
		}
		got := 0
		buf := make([]byte, 100)
		for {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				break
			}
			got++
		}
		lost := 1 - float64(got)/n
		t.Logf("%d of %d packets came back: %.1f%% lost (configured 30%% upstream)", got, n, 100*lost)
		if lost < 0.2 || lost > 0.4 {
			t.Fatalf("lost %.1f%%, want 30%% ± 10", 100*lost)
		}
	})
}

// TestTeardown: Down stops exactly the processes the lab started and
// deletes exactly its namespaces, leaves a namespace it did not create
// alone even when its name looks like the lab's, and refuses work after.
func TestTeardown(t *testing.T) {
	t.Parallel()
	skipUnsupported(t)
	foreign := fmt.Sprintf("plab%d-foreign", os.Getpid())
	if _, err := run(t.Context(), "", "ip", "netns", "add", foreign); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = run(context.Background(), "", "ip", "netns", "delete", foreign) })

	l, err := Up(t.Context(), labOptions(t, SiteConfig{Kind: Symmetric, Delay: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Down() })
	sleeper, err := l.Start(l.Sites()[0].Host, "sleep", nil, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	names := l.Namespaces()
	if len(names) != 4 {
		t.Fatalf("namespaces %v, want internet, server, router and host", names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, l.Prefix()) || !nsExists(n) {
			t.Fatalf("namespace %q: missing or without the lab prefix %q", n, l.Prefix())
		}
	}
	procs := l.Procs() // the delay line and the sleeper
	if len(procs) != 2 {
		t.Fatalf("procs %v", procs)
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if !p.Exited() {
			t.Errorf("%v still running after Down", p)
		}
	}
	if !sleeper.Exited() {
		t.Error("sleeper still running")
	}
	for _, n := range names {
		if nsExists(n) {
			t.Errorf("namespace %s survived Down", n)
		}
	}
	if !nsExists(foreign) {
		t.Errorf("Down deleted %s, which the lab did not create", foreign)
	}
	if err := l.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := l.Start(l.Internet(), "x", nil, "true"); !errors.Is(err, ErrDown) {
		t.Errorf("Start after Down: %v, want ErrDown", err)
	}
}

func TestParseKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want Kind
		err  bool
	}{
		{"none", "none", None, false},
		{"cone", "Cone", Cone, false},
		{"symmetric", "symmetric", Symmetric, false},
		{"udp-blocked", "udp-blocked", UDPBlocked, false},
		{"tcp443", "TCP443", TCP443, false},
		{"unknown", "full-cone", 0, true},
		{"empty", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKind(tc.in)
			if (err != nil) != tc.err || (err == nil && k != tc.want) {
				t.Fatalf("ParseKind(%q) = %v, %v", tc.in, k, err)
			}
			if err == nil && k.String() != strings.ToLower(tc.in) {
				t.Fatalf("String() = %q", k.String())
			}
		})
	}
}

// TestCaptureTCP: a capture in the server namespace sees both directions
// of a TCP connection to the bootstrap host from its SYN, and Reassemble
// returns the bytes each side sent.
func TestCaptureTCP(t *testing.T) {
	t.Parallel()
	l := newLab(t, SiteConfig{Kind: Cone})
	dst := netip.AddrPortFrom(BootstrapAddr, 7000)
	startEcho(t, l, dst)
	capt, err := l.StartCapture(l.Server(), isBootstrapHost)
	if err != nil {
		t.Fatal(err)
	}
	checkTCP(t, l, l.Sites()[0], dst) // the server writes the client's address and closes
	var streams []Stream
	wantReply := []byte(netip.AddrPortFrom(l.Sites()[0].WANAddr, 0).Addr().String() + ":")
	test := func() error {
		streams = Reassemble(capt.snapshot())
		for _, s := range streams {
			if s.Src == dst && bytes.HasPrefix(s.Data, wantReply) {
				return nil
			}
		}
		return fmt.Errorf("no server stream starting %q in %d streams", wantReply, len(streams))
	}
	if err := wait.For(t.Context(), 5*time.Second, test); err != nil {
		t.Fatal(err)
	}
	capt.Stop()
	if len(streams) != 2 {
		t.Fatalf("%d streams, want the two directions of one connection", len(streams))
	}
	for _, s := range streams {
		if !s.FromStart || s.Gap {
			t.Errorf("%v: from start %v, gap %v", s.Flow, s.FromStart, s.Gap)
		}
		if s.Dst == dst && len(s.Data) != 0 {
			t.Errorf("client sent %q, want nothing", s.Data)
		}
	}
}
