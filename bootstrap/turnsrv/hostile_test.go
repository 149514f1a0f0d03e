package turnsrv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// allocate makes one allocation for device from a fresh client socket.
func allocate(t *testing.T, ts *testServer, device string) (net.PacketConn, error) {
	t.Helper()
	user, pass := Credentials(testSecret, device, time.Hour, time.Now())
	client, _ := dialTURN(t, ts, "udp", user, pass)
	relay, err := client.Allocate()
	if err == nil {
		t.Cleanup(func() { _ = relay.Close() })
	}
	return relay, err
}

func isQuotaReached(err error) bool {
	var te *stun.TurnError
	return errors.As(err, &te) && te.ErrorCodeAttr.Code == stun.CodeAllocQuotaReached
}

// TestQuota: a device, a client address and the server hold at most their
// quota of allocations; an allocation that ends gives its place back.
func TestQuota(t *testing.T) {
	t.Run("per device and per address", func(t *testing.T) {
		ts := startServer(t, func(c *Config) { c.Quota = Quota{PerUser: 2, PerIP: 3, Total: 100} })
		first, err := allocate(t, ts, "device-a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := allocate(t, ts, "device-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := allocate(t, ts, "device-a"); !isQuotaReached(err) {
			t.Fatalf("third allocation of one device: %v, want 486 Allocation Quota Reached", err)
		}
		if _, err := allocate(t, ts, "device-b"); err != nil {
			t.Fatalf("another device: %v", err)
		}
		if _, err := allocate(t, ts, "device-c"); !isQuotaReached(err) {
			t.Fatalf("fourth allocation from one address: %v, want 486", err)
		}
		if got := ts.metrics.QuotaRefused.Load(); got != 2 {
			t.Errorf("QuotaRefused = %d, want 2", got)
		}
		// Closing an allocation (Refresh with lifetime 0) frees its place.
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ioTimeout, "device-a to allocate again", func() (bool, string) {
			_, err := allocate(t, ts, "device-a")
			return err == nil, fmt.Sprint(err)
		})
	})
	t.Run("total", func(t *testing.T) {
		ts := startServer(t, func(c *Config) { c.Quota = Quota{Total: 2} })
		for i := range 2 {
			if _, err := allocate(t, ts, fmt.Sprint("device-", i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := allocate(t, ts, "device-x"); !isQuotaReached(err) {
			t.Fatalf("allocation over the total: %v, want 486", err)
		}
		if got := ts.AllocationCount(); got != 2 {
			t.Errorf("AllocationCount = %d, want 2", got)
		}
	})
}

func TestQuotaDefaults(t *testing.T) {
	q, err := Quota{}.withDefaults()
	if err != nil || q != (Quota{DefaultUserQuota, DefaultIPQuota, DefaultTotalQuota}) {
		t.Fatalf("defaults = %+v, %v", q, err)
	}
	if _, err := (Quota{PerIP: -1}).withDefaults(); !errors.Is(err, ErrBadQuota) {
		t.Fatalf("negative quota: %v, want ErrBadQuota", err)
	}
}

// TestQuotaAdmittedNeverCreated: an allocation pion admitted but did not
// create gives its place back after admitTimeout.
func TestQuotaAdmittedNeverCreated(t *testing.T) {
	now := time.Now()
	q := newQuotas(Quota{PerUser: 1, PerIP: 1, Total: 1}, func() time.Time { return now })
	src := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 1), Port: 1000}
	if ok, _ := q.admit("d", src); !ok {
		t.Fatal("first admit refused")
	}
	if ok, _ := q.admit("d", src); ok {
		t.Fatal("second admit over the quota allowed")
	}
	now = now.Add(admitTimeout + time.Second)
	if ok, why := q.admit("d", src); !ok {
		t.Fatalf("place not given back after admitTimeout: %s", why)
	}
	q.created("d", src)
	q.deleted("d", src)
	if n := q.counts(); n != 0 {
		t.Fatalf("%d allocations counted after create and delete, want 0", n)
	}
}

// TestServerAddressesRefused: a client may not relay to the server's own
// addresses, except to the relay sockets of the server's allocations (two
// clients of one server relaying to each other), on either data path.
// loopbackPublic makes 127.0.0.1 count as a public address of the server.
func TestServerAddressesRefused(t *testing.T) {
	for _, pionPath := range []bool{false, true} {
		t.Run(fmt.Sprintf("pion data path %v", pionPath), func(t *testing.T) {
			ts := startServer(t, func(c *Config) {
				c.AllowPrivatePeers = false
				c.loopbackPublic = true
				c.PionDataPath = pionPath
				c.ServerAddrs = []net.IP{net.IPv4(127, 0, 0, 2)}
			})
			service := newEchoPeer(t, "127.0.0.1:0") // something else on the server
			other := newEchoPeer(t, "127.0.0.2:0")   // on another address of the server

			ua, pa := Credentials(testSecret, "device-a", time.Hour, time.Now())
			ca, _ := dialTURN(t, ts, "udp", ua, pa)
			ra, err := ca.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer ra.Close()
			ub, pb := Credentials(testSecret, "device-b", time.Hour, time.Now())
			cb, _ := dialTURN(t, ts, "udp", ub, pb)
			rb, err := cb.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer rb.Close()

			// Relay to relay works: permissions for the server's address
			// are granted, and the relay ports are live.
			if err := ca.CreatePermission(rb.LocalAddr()); err != nil {
				t.Fatalf("permission for the other relay: %v", err)
			}
			if err := cb.CreatePermission(ra.LocalAddr()); err != nil {
				t.Fatalf("permission for the other relay: %v", err)
			}
			hello := []byte("relay to relay")
			waitFor(t, ioTimeout, "A's datagram at B's relay", func() (bool, string) {
				_, _ = ra.WriteTo(hello, rb.LocalAddr())
				buf := make([]byte, 64)
				_ = rb.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				n, _, err := rb.ReadFrom(buf)
				return err == nil && bytes.Equal(buf[:n], hello), fmt.Sprint(err)
			})

			// Another address of the server: refused outright.
			var te *stun.TurnError
			if err := ca.CreatePermission(other.LocalAddr()); !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeForbidden {
				t.Fatalf("permission for another address of the server: %v, want 403", err)
			}
			// The relay address at a port that is no relay: the permission
			// (per IP) exists, but every datagram is dropped, whether pion
			// sends it (Send indication) or the data path (ChannelData).
			const n = 20
			before := ts.metrics.Dropped.Load()
			for range n {
				if _, err := ra.WriteTo([]byte("let me in"), service.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, ioTimeout, "every datagram to the service dropped", func() (bool, string) {
				got := ts.metrics.Dropped.Load() - before
				return got >= n, fmt.Sprintf("%d of %d dropped", got, n)
			})
			if service.received([]byte("let me in")) {
				t.Fatal("a service on the server's own address got a datagram through the relay")
			}
		})
	}
}

var _ turn.RelayAddressGenerator = guardedGen{}
