package turnsrv

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/parleyhq/parley/internal/turncred"
	"github.com/parleyhq/parley/test"
)

const ioTimeout = 5 * time.Second

// TestRelay allocates with issued credentials over each transport and
// checks that data really goes client → relay → peer and back.
func TestRelay(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
	}{
		{"udp", "udp"},
		{"tcp", "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			user, pass := Credentials(testSecret, "device-a", time.Hour, time.Now())
			client, _ := dialTURN(t, ts, tc.network, user, pass)

			relay, err := client.Allocate()
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			defer relay.Close()
			if got, want := relay.LocalAddr().(*net.UDPAddr).IP.String(), "127.0.0.1"; got != want {
				t.Errorf("relayed address IP = %s, want %s", got, want)
			}

			peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if err := client.CreatePermission(peer.LocalAddr()); err != nil {
				t.Fatalf("CreatePermission: %v", err)
			}

			ping, pong := []byte("ping through the relay"), []byte("pong back to the client")
			if _, err := relay.WriteTo(ping, peer.LocalAddr()); err != nil {
				t.Fatalf("relay WriteTo: %v", err)
			}
			buf := make([]byte, 1500)
			_ = peer.SetReadDeadline(time.Now().Add(ioTimeout))
			n, from, err := peer.ReadFrom(buf)
			if err != nil {
				t.Fatalf("peer ReadFrom: %v", err)
			}
			if !bytes.Equal(buf[:n], ping) {
				t.Errorf("peer got %q, want %q", buf[:n], ping)
			}
			if from.String() != relay.LocalAddr().String() {
				t.Errorf("peer got data from %v, want the relayed address %v", from, relay.LocalAddr())
			}

			if _, err := peer.WriteTo(pong, from); err != nil {
				t.Fatalf("peer WriteTo: %v", err)
			}
			_ = relay.SetReadDeadline(time.Now().Add(ioTimeout))
			n, from, err = relay.ReadFrom(buf)
			if err != nil {
				t.Fatalf("relay ReadFrom: %v", err)
			}
			if !bytes.Equal(buf[:n], pong) {
				t.Errorf("client got %q, want %q", buf[:n], pong)
			}
			if from.String() != peer.LocalAddr().String() {
				t.Errorf("client got data from %v, want peer %v", from, peer.LocalAddr())
			}

			if got := ts.AllocationCount(); got != 1 {
				t.Errorf("AllocationCount = %d, want 1", got)
			}
			if got := ts.metrics.Allocations.Load(); got != 1 {
				t.Errorf("Metrics.Allocations = %d, want 1", got)
			}
			if ts.metrics.AuthOK.Load() == 0 {
				t.Error("Metrics.AuthOK = 0 after a successful allocation")
			}
			if got := ts.metrics.AuthFail.Load(); got != 0 {
				t.Errorf("Metrics.AuthFail = %d, want 0", got)
			}
			assertNoSecretsLogged(t, ts.log.String(), pass)
		})
	}
}

func assertNoSecretsLogged(t *testing.T, log, password string) {
	t.Helper()
	if log == "" {
		t.Fatal("server logged nothing at trace level; the check below would be vacuous")
	}
	if strings.Contains(log, password) {
		t.Error("server log contains the TURN password")
	}
	if strings.Contains(log, string(testSecret)) {
		t.Error("server log contains the shared secret")
	}
}

// TestAuthRefused presents bad credentials through a real TURN client; the
// allocation must fail and be counted. The last case is a positive control
// on the same server.
func TestAuthRefused(t *testing.T) {
	ts := startServer(t, nil)
	now := time.Now()
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	userA, passA := Credentials(testSecret, "device-a", time.Hour, now)
	userB, _ := Credentials(testSecret, "device-b", time.Hour, now)
	if strings.TrimSuffix(userA, "device-a") != strings.TrimSuffix(userB, "device-b") {
		t.Fatalf("expiries differ: %q vs %q", userA, userB)
	}
	// signed gives a correctly signed password, so only the username's
	// form is wrong.
	signed := func(u string) [2]string { return [2]string{u, turncred.Password(testSecret, u)} }
	pair := func(u, p string) [2]string { return [2]string{u, p} }

	for _, tc := range []struct {
		name  string
		creds [2]string
		ok    bool
	}{
		{"expired", pair(Credentials(testSecret, "device-a", -time.Minute, now)), false},
		{"expires now", pair(Credentials(testSecret, "device-a", 0, now)), false},
		{"wrong secret", pair(Credentials([]byte("some-other-secret-xyz"), "device-a", time.Hour, now)), false},
		{"other device", pair(userB, passA), false},
		{"malformed no colon", signed(exp), false},
		{"malformed expiry word", signed("tomorrow:device-a"), false},
		{"malformed negative expiry", signed("-1:device-a"), false},
		{"malformed leading zero", signed("0" + exp + ":device-a"), false},
		{"malformed expiry overflow", signed("99999999999999999999:device-a"), false},
		{"malformed empty device", signed(exp + ":"), false},
		{"malformed space in device", signed(exp + ":device a"), false},
		{"too long", signed(exp + ":" + strings.Repeat("d", turncred.MaxUsernameLen)), false},
		{"valid", pair(userA, passA), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failBefore, okBefore := ts.metrics.AuthFail.Load(), ts.metrics.AuthOK.Load()
			client, closeClient := dialTURN(t, ts, "udp", tc.creds[0], tc.creds[1])
			defer closeClient()
			relay, err := client.Allocate()
			if tc.ok {
				if err != nil {
					t.Fatalf("Allocate: %v", err)
				}
				_ = relay.Close()
				if ts.metrics.AuthOK.Load() == okBefore {
					t.Error("AuthOK did not increase")
				}
				return
			}
			if err == nil {
				_ = relay.Close()
				t.Fatal("Allocate succeeded, want an authentication failure")
			}
			if ts.metrics.AuthFail.Load() == failBefore {
				t.Error("AuthFail did not increase")
			}
			if ts.metrics.AuthOK.Load() != okBefore {
				t.Error("AuthOK increased for a refused request")
			}
			if got := ts.AllocationCount(); got != 0 {
				t.Errorf("AllocationCount = %d, want 0", got)
			}
		})
	}
	assertNoSecretsLogged(t, ts.log.String(), passA)
}

// TestAuthenticate checks the auth handler directly, with an injected
// clock and the key it hands to pion.
func TestAuthenticate(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	logger, _ := newTestLogger(t)
	s := &Server{
		secret:  newSharedSecret(testSecret),
		realm:   DefaultRealm,
		now:     func() time.Time { return clock },
		log:     logger,
		metrics: new(Metrics),
	}
	for _, tc := range []struct {
		name     string
		issuedAt time.Time
		ttl      time.Duration
		realm    string
		ok       bool
	}{
		{"valid", clock, time.Minute, DefaultRealm, true},
		{"valid one second left", clock.Add(-59 * time.Second), time.Minute, DefaultRealm, true},
		{"expired at the second", clock.Add(-time.Minute), time.Minute, DefaultRealm, false},
		{"expired by injected clock only", clock.Add(-2 * time.Hour), time.Hour, DefaultRealm, false},
		{"wrong realm", clock, time.Minute, "example.org", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := Credentials(testSecret, "device-a", tc.ttl, tc.issuedAt)
			fails := s.metrics.AuthFail.Load()
			id, key, ok := s.authenticate(&turn.RequestAttributes{Username: user, Realm: tc.realm})
			if ok != tc.ok {
				t.Fatalf("authenticate ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if s.metrics.AuthFail.Load() != fails+1 {
					t.Error("AuthFail not counted")
				}
				return
			}
			if id != "device-a" {
				t.Errorf("userID = %q, want device-a", id)
			}
			if want := turn.GenerateAuthKey(user, DefaultRealm, pass); !bytes.Equal(key, want) {
				t.Errorf("key = %x, want %x", key, want)
			}
		})
	}
}

// TestPrivatePeersRefused runs the peer filter end to end: CreatePermission
// to a loopback, private or CGNAT peer fails with 403 and is counted;
// public-looking peers are let through.
func TestPrivatePeersRefused(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.AllowPrivatePeers = false })
	user, pass := Credentials(testSecret, "device-a", time.Hour, time.Now())
	client, _ := dialTURN(t, ts, "udp", user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()

	loopPeer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer loopPeer.Close()

	for _, tc := range []struct {
		name    string
		peer    net.Addr
		refused bool
	}{
		{"loopback", loopPeer.LocalAddr(), true},
		{"rfc1918 10/8", &net.UDPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 9}, true},
		{"rfc1918 192.168/16", &net.UDPAddr{IP: net.IPv4(192, 168, 1, 20), Port: 9}, true},
		{"link-local metadata", &net.UDPAddr{IP: net.IPv4(169, 254, 169, 254), Port: 80}, true},
		{"cgnat", &net.UDPAddr{IP: net.IPv4(100, 64, 0, 1), Port: 9}, true},
		{"cgnat top", &net.UDPAddr{IP: net.IPv4(100, 127, 255, 254), Port: 9}, true},
		{"public test-net", &net.UDPAddr{IP: net.IPv4(203, 0, 113, 5), Port: 9}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.metrics.PeerRefused.Load()
			err := client.CreatePermission(tc.peer)
			if !tc.refused {
				if err != nil {
					t.Fatalf("CreatePermission(%v): %v", tc.peer, err)
				}
				if got := ts.metrics.PeerRefused.Load(); got != before {
					t.Errorf("PeerRefused went %d → %d for an allowed peer", before, got)
				}
				return
			}
			var turnErr *stun.TurnError
			if !errors.As(err, &turnErr) || turnErr.ErrorCodeAttr.Code != stun.CodeForbidden {
				t.Fatalf("CreatePermission(%v) = %v, want a 403 Forbidden TURN error", tc.peer, err)
			}
			if got := ts.metrics.PeerRefused.Load(); got != before+1 {
				t.Errorf("PeerRefused = %d, want %d", got, before+1)
			}
		})
	}

	// Data written to the refused loopback peer must not arrive.
	_, _ = relay.WriteTo([]byte("let me in"), loopPeer.LocalAddr())
	_ = loopPeer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := loopPeer.ReadFrom(make([]byte, 64)); err == nil {
		t.Errorf("refused peer received %d bytes through the relay", n)
	}
}

// TestSTUNBinding checks that plain STUN Binding requests are answered on
// the TURN sockets, without credentials, with the client's own address.
func TestSTUNBinding(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name    string
		network string
		addr    string
	}{
		{"udp", "udp4", ts.udpAddr},
		{"tcp", "tcp4", ts.tcpAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			client, err := stun.NewClient(conn, stun.WithRTO(500*time.Millisecond))
			if err != nil {
				_ = conn.Close()
				t.Fatal(err)
			}
			defer client.Close()

			var (
				mapped stun.XORMappedAddress
				cbErr  error
			)
			err = client.Do(stun.MustBuild(stun.TransactionID, stun.BindingRequest), func(e stun.Event) {
				if e.Error != nil {
					cbErr = e.Error
					return
				}
				cbErr = mapped.GetFrom(e.Message)
			})
			if err != nil || cbErr != nil {
				t.Fatalf("binding request: %v / %v", err, cbErr)
			}
			if got, want := mapped.String(), conn.LocalAddr().String(); got != want {
				t.Errorf("XOR-MAPPED-ADDRESS = %s, want the client's address %s", got, want)
			}
		})
	}
}

// TestCloseLeavesNoGoroutines closes a server with live UDP and TCP
// allocations and a TCP client still connected, and checks every server
// goroutine ends, then every goroutine once the clients are gone.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	serverMarkers := []string{"pion/turn/v5.(*Server)", "pion/turn/v5/internal/server", "pion/turn/v5/internal/allocation", "turnsrv.(*"}
	waitFor(t, ioTimeout, "goroutines of earlier tests to end", func() (bool, string) {
		g := test.GoroutinesMatching(append(serverMarkers, "pion/turn/v5/internal/client", "pion/turn/v5.(*Client)")...)
		return len(g) == 0, strings.Join(g, "\n\n")
	})
	baseline := runtime.NumGoroutine()

	ts := startServer(t, nil)
	user, pass := Credentials(testSecret, "device-a", time.Hour, time.Now())
	var closers []func()
	for _, network := range []string{"udp", "tcp"} {
		client, closeClient := dialTURN(t, ts, network, user, pass)
		relay, err := client.Allocate()
		if err != nil {
			t.Fatalf("%s Allocate: %v", network, err)
		}
		// The relay stays open until after the server's Close: Close must
		// not depend on clients deallocating.
		closers = append(closers, func() { _ = relay.Close(); closeClient() })
	}
	if got := ts.AllocationCount(); got != 2 {
		t.Fatalf("AllocationCount = %d, want 2", got)
	}

	if err := ts.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ts.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	waitFor(t, ioTimeout, "server goroutines to end after Close", func() (bool, string) {
		g := test.GoroutinesMatching(serverMarkers...)
		return len(g) == 0, strings.Join(g, "\n\n")
	})
	waitFor(t, ioTimeout, "allocations to be released", func() (bool, string) {
		n := ts.AllocationCount()
		return n == 0, strconv.Itoa(n) + " allocations left"
	})

	for _, c := range closers {
		c()
	}
	waitFor(t, ioTimeout, "goroutine count back to baseline", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= baseline, "have " + strconv.Itoa(n) + ", baseline " + strconv.Itoa(baseline) + "\n" +
			strings.Join(test.GoroutinesMatching("pion", "turnsrv"), "\n\n")
	})
}

func TestNewValidation(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	good := func() Config {
		return Config{Secret: testSecret, RelayIP: net.IPv4(192, 0, 2, 1), PacketConns: []net.PacketConn{pc}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"no secret", func(c *Config) { c.Secret = nil }, ErrSecretTooShort},
		{"short secret", func(c *Config) { c.Secret = []byte("fifteen bytes!!") }, ErrSecretTooShort},
		{"no relay IP", func(c *Config) { c.RelayIP = nil }, ErrNoRelayIP},
		{"unspecified relay IP", func(c *Config) { c.RelayIP = net.IPv4zero }, ErrNoRelayIP},
		{"garbage relay IP", func(c *Config) { c.RelayIP = net.IP{1, 2, 3} }, ErrNoRelayIP},
		{"no sockets", func(c *Config) { c.PacketConns = nil }, ErrNoSockets},
		{"nil packet conn", func(c *Config) { c.PacketConns = []net.PacketConn{nil} }, ErrNilSocket},
		{"nil listener", func(c *Config) { c.Listeners = []net.Listener{nil} }, ErrNilSocket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mod(&c)
			s, err := New(c)
			if !errors.Is(err, tc.want) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("New error = %v, want %v", err, tc.want)
			}
		})
	}
	// A failed New leaves the caller's socket open.
	if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); err != nil {
		t.Errorf("socket unusable after failed New: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		relayIP  net.IP
		wantBind string
	}{
		{"ipv4", net.IPv4(192, 0, 2, 1), "0.0.0.0"},
		{"ipv6", net.ParseIP("2001:db8::1"), "::"},
		{"local address", net.IPv4(127, 0, 0, 1), "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Config{Secret: testSecret, RelayIP: tc.relayIP,
				Listeners: []net.Listener{stubListener{}}}.validate()
			if err != nil {
				t.Fatal(err)
			}
			if c.Realm != "parley" || c.RelayBindAddr != tc.wantBind || c.Now == nil || c.Logger == nil || c.Metrics == nil {
				t.Errorf("defaults not filled: realm %q bind %q now %v logger %v metrics %v",
					c.Realm, c.RelayBindAddr, c.Now != nil, c.Logger != nil, c.Metrics != nil)
			}
		})
	}
}

type stubListener struct{ net.Listener }

// TestTCPRelayRefused checks that RFC 6062 TCP relay allocations are
// refused while a UDP allocation over the same TCP transport works.
func TestTCPRelayRefused(t *testing.T) {
	ts := startServer(t, nil)
	user, pass := Credentials(testSecret, "device-a", time.Hour, time.Now())
	client, _ := dialTURN(t, ts, "tcp", user, pass)
	if alloc, err := client.AllocateTCP(); err == nil {
		_ = alloc.Close()
		t.Fatal("AllocateTCP succeeded, want a refusal")
	}
	if got := ts.AllocationCount(); got != 0 {
		t.Errorf("AllocationCount = %d after a refused TCP allocation, want 0", got)
	}
	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("UDP Allocate after refused TCP one: %v", err)
	}
	_ = relay.Close()
}
