package calltransport

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRelayOnly connects two RelayOnly legs through a real turnsrv, with
// the legs reaching TURN over UDP and over TCP.
func TestRelayOnly(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ts := startTURN(t, nil)
			p := newLegPair(t, func(c *Config) {
				c.RelayOnly = true
				c.Servers = []ICEServer{ts.turnServer(transport, fmt.Sprintf("dev-%t", c.Controlling))}
				c.ReportInterval = -1
			})
			p.hold = func(cand string) bool {
				if !strings.Contains(cand, "typ relay") {
					t.Errorf("RelayOnly leg trickled %q", cand)
				}
				return false
			}
			connected, first, ma, mb := setupTime(t, p)
			t.Logf("setup through TURN over %s: connected after %v, first decrypted packet after %v", transport, connected, first)
			for name, l := range map[string]*Leg{"a": p.a, "b": p.b} {
				path := l.Path()
				if path.Local != "relay" || path.Network != transport {
					t.Errorf("%s: Path() = %+v, want local relay over %s", name, path, transport)
				}
			}
			if n := ts.AllocationCount(); n < 2 {
				t.Errorf("TURN server has %d allocations, want at least 2", n)
			}
			chA, chB := collect(ma), collect(mb)
			for i := range 20 {
				if err := ma.WriteRTP(testPacket(0x1111, uint16(i), []byte(fmt.Sprintf("a→b %d", i)))); err != nil {
					t.Fatal(err)
				}
				if err := mb.WriteRTP(testPacket(0x2222, uint16(i), []byte(fmt.Sprintf("b→a %d", i)))); err != nil {
					t.Fatal(err)
				}
			}
			checkStream(t, expectSSRC(t, chB, 0x1111, 20, 5*time.Second), 0x1111, "a→b")
			checkStream(t, expectSSRC(t, chA, 0x2222, 20, 5*time.Second), 0x2222, "b→a")
		})
	}
}

// TestRelayThenDirect shows what pion does when a direct path works only
// after the legs connected through TURN (here: the direct candidates are
// held back, as when they are trickled late). With renomination (the
// default) the controlling side moves the call to the direct pair within
// about KeepaliveInterval+RenominationInterval; without it pion keeps the
// first pair for the whole call, however long checks keep succeeding on a
// better one.
func TestRelayThenDirect(t *testing.T) {
	tests := []struct {
		name       string
		mod        func(*Config)
		wantSwitch bool
	}{
		{"renomination", func(*Config) {}, true},
		{"no renomination", func(c *Config) {
			c.RenominationInterval = -1
			c.KeepaliveInterval = 100 * time.Millisecond
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testRelayThenDirect(t, tt.mod, tt.wantSwitch) })
	}
}

func testRelayThenDirect(t *testing.T, mod func(*Config), wantSwitch bool) {
	// Relayed addresses on 127.0.0.2, hosts on 127.0.0.1: a TURN
	// permission for the peer's relayed address then does not also admit
	// its host address, so while direct candidates are held back no check
	// from a host socket gets through the relay to reveal a peer-reflexive
	// direct path.
	ts := startTURN(t, net.IPv4(127, 0, 0, 2))
	p := newLegPair(t, func(c *Config) {
		c.Servers = []ICEServer{ts.turnServer("udp", fmt.Sprintf("dev-%t", c.Controlling))}
		c.ReportInterval = -1
		mod(c)
	})
	// Hold host and srflx candidates (turnsrv answers STUN too, and on
	// loopback a srflx address is a direct path).
	p.hold = func(cand string) bool { return !strings.Contains(cand, "typ relay") }
	t0 := time.Now()
	p.start()
	p.waitConnected(10 * time.Second)
	// With a direct path possible in principle, a relay pair is only
	// nominated after the relay acceptance wait.
	if d := time.Since(t0); d < DefaultRelayAcceptanceWait {
		t.Errorf("connected over the relay after %v, before the %v relay wait", d, DefaultRelayAcceptanceWait)
	} else {
		t.Logf("connected over the relay after %v", d)
	}
	onRelay := func(l *Leg) bool { path := l.Path(); return path.Local == "relay" || path.Remote == "relay" }
	for name, l := range map[string]*Leg{"a": p.a, "b": p.b} {
		if !onRelay(l) {
			t.Fatalf("%s: Path() = %+v before direct candidates, want a relay on one end", name, l.Path())
		}
	}
	ma, mb := p.startMedia()
	chB := collect(mb)
	released := time.Now()
	p.release()
	if !wantSwitch {
		// Watch for 1.5 s (15 keepalive rounds) that nothing changes.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for time.Since(released) < 1500*time.Millisecond {
			for name, l := range map[string]*Leg{"a": p.a, "b": p.b} {
				if !onRelay(l) {
					t.Fatalf("%s: switched to %+v without renomination", name, l.Path())
				}
			}
			<-tick.C
		}
	} else {
		waitFor(t, 10*time.Second, "switch to the direct pair", func() error {
			for _, l := range []*Leg{p.a, p.b} {
				if path := l.Path(); path.Local != "host" || path.Remote != "host" {
					return fmt.Errorf("path %+v", path)
				}
			}
			return nil
		})
		t.Logf("relay → direct %v after the direct candidates arrived", time.Since(released))
	}
	for i := range 10 {
		if err := ma.WriteRTP(testPacket(0x1111, uint16(i), []byte(fmt.Sprintf("a→b %d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	checkStream(t, expectSSRC(t, chB, 0x1111, 10, 5*time.Second), 0x1111, "a→b")
	if err := mb.WriteRTP(testPacket(0x2222, 1, []byte("b→a 0"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b→a", func() error {
		if ma.Stats().PacketsReceived == 0 {
			return errors.New("nothing yet")
		}
		return nil
	})
}
