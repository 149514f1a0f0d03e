package adversary

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/pion/stun/v4"

	credproto "github.com/parleyhq/parley/internal/turncred"
	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/wait"
)

// bootstrapEnv is PARLEY_ADVERSARY_BOOTSTRAP (see the package doc).
const bootstrapEnv = "PARLEY_ADVERSARY_BOOTSTRAP"

// server is a running parley-bootstrap process.
type server struct {
	info    peer.AddrInfo // TCP addresses only
	metrics string        // host:port of /metrics
}

// startBootstrap runs the real parley-bootstrap with libp2p on loopback TCP,
// metrics on loopback and TURN on turnIP, with extra flags. Its
// protections are the defaults unless extra changes them.
func startBootstrap(t *testing.T, turnIP string, extra ...string) *server {
	t.Helper()
	bin := os.Getenv(bootstrapEnv)
	if bin == "" {
		bin = test.BuildBinaries(t).Bootstrap
	}
	b, err := daemon.StartBootstrap(t.Context(), daemon.BootstrapConfig{
		Bin: bin, Procs: test.Procs(t), Dir: filepath.Join(t.TempDir(), "bootstrap"),
		Args: slices.Concat([]string{"--listen", "/ip4/127.0.0.1/tcp/0", "--metrics-addr", "127.0.0.1:0",
			"--turn-listen", net.JoinHostPort(turnIP, "0"), "--log-level", "warn"}, extra),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	if s.metrics, err = MetricsAddr(b.Proc.Output()); err != nil {
		t.Fatal(err)
	}
	for _, a := range b.Addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			t.Fatal(err)
		}
		s.info.ID = ai.ID
		s.info.Addrs = append(s.info.Addrs, ai.Addrs...)
	}
	s.info = TCPOnly(s.info)
	return s
}

func (s *server) scrape(t *testing.T) Metrics {
	t.Helper()
	m, err := Scrape(t.Context(), s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// device is a device with its own host, connected to the server.
type device struct {
	*Device
	h host.Host
}

// newDevice makes a device of a (a new account when nil) whose host
// listens, and so dials, on ip.
func newDevice(t *testing.T, s *server, a *Account, ip string) *device {
	t.Helper()
	if a == nil {
		var err error
		if a, err = NewAccount(); err != nil {
			t.Fatal(err)
		}
	}
	d, err := a.NewDevice()
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Host(ip)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := Connect(t.Context(), h, s.info); err != nil {
		t.Fatal(err)
	}
	return &device{d, h}
}

// publish stores the device's account record (listing devices, revoking
// revoked) and its presence record on the server.
func (d *device) publish(t *testing.T, s *server, devices, revoked []*Device) (accountKey, presenceKey string) {
	t.Helper()
	ak, av, err := d.Account.Record(devices, revoked)
	if err != nil {
		t.Fatal(err)
	}
	pk, pv, err := d.Presence()
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]any{{ak, av}, {pk, pv}} {
		if err := PutValue(t.Context(), d.h, s.info.ID, kv[0].(string), kv[1].([]byte)); err != nil {
			t.Fatal(err)
		}
	}
	return ak, pk
}

func (d *device) credentials(ctx context.Context, s *server) (*credproto.Credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return credproto.Request(ctx, d.h, s.info.ID, d.Account.Cert.Raw(), d.Cert.Raw())
}

// turnAddr returns the host:port of the server's TURN over UDP, from the
// URLs handed out with credentials.
func turnAddr(t *testing.T, c *credproto.Credentials) string {
	t.Helper()
	for _, u := range c.URLs {
		if rest, ok := strings.CutPrefix(u, "turn:"); ok && strings.HasSuffix(rest, "?transport=udp") {
			return strings.TrimSuffix(rest, "?transport=udp")
		}
	}
	t.Fatalf("no TURN UDP URL in %v", c.URLs)
	return ""
}

// TestDHTFloodFromOnePeer (finding 2): one peer stores 300 records of
// 6.6 KB; the bootstrap keeps at most its per-peer cap of them (32 records,
// 512 KiB), counts the drops, and still serves another peer's records.
func TestDHTFloodFromOnePeer(t *testing.T) {
	s := startBootstrap(t, "127.0.0.1")
	victim := newDevice(t, s, nil, "127.0.0.2")
	ak, pk := victim.publish(t, s, []*Device{victim.Device}, nil)

	attacker, err := NewHost(nil, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	if err := Connect(t.Context(), attacker, s.info); err != nil {
		t.Fatal(err)
	}
	const flood = 300
	for i := range flood {
		k, v, err := JunkPresence(32)
		if err != nil {
			t.Fatal(err)
		}
		if err := PutValue(t.Context(), attacker, s.info.ID, k, v); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	m := s.scrape(t)
	if n := m["parley_bootstrap_dht_records"]; n > 32+2 {
		t.Fatalf("the bootstrap stores %.0f records after one peer sent %d, want at most 34 (32 of the peer's, 2 of the victim's)", n, flood)
	}
	if b := m["parley_bootstrap_dht_record_bytes"]; b > 512<<10+16<<10 {
		t.Errorf("the bootstrap stores %.0f bytes of records, want about 512 KiB at most", b)
	}
	if d := m[`parley_bootstrap_dht_records_dropped_total{reason="peer"}`]; d < flood-32 {
		t.Errorf("dropped_total{reason=\"peer\"} = %.0f, want ≥ %d", d, flood-32)
	}
	for _, k := range []string{ak, pk} {
		if v, err := GetValue(t.Context(), victim.h, s.info.ID, k); err != nil || v == nil {
			t.Errorf("the victim's record %q is gone after the flood: %v", k[:12], err)
		}
	}
}

// TestDHTFloodSybil (finding 2): 40 peer IDs from one address store 30
// records each; together they keep at most the per-address cap (1024),
// and a peer at another address keeps its records.
func TestDHTFloodSybil(t *testing.T) {
	s := startBootstrap(t, "127.0.0.1")
	victim := newDevice(t, s, nil, "127.0.0.2")
	ak, pk := victim.publish(t, s, []*Device{victim.Device}, nil)
	const peers, each = 40, 30
	var wg sync.WaitGroup
	errs := make(chan error, peers)
	for range peers {
		wg.Go(func() {
			h, err := NewHost(nil, "127.0.0.1")
			if err != nil {
				errs <- err
				return
			}
			defer h.Close()
			if err := Connect(t.Context(), h, s.info); err != nil {
				errs <- err
				return
			}
			for range each {
				k, v, err := JunkPresence(1)
				if err == nil {
					err = PutValue(t.Context(), h, s.info.ID, k, v)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m := s.scrape(t)
	if n := m["parley_bootstrap_dht_records"]; n > 1024+2 {
		t.Fatalf("the bootstrap stores %.0f records after %d peers of one address sent %d, want at most 1026", n, peers, peers*each)
	}
	if d := m[`parley_bootstrap_dht_records_dropped_total{reason="ip"}`]; d < peers*each-1024 {
		t.Errorf(`dropped_total{reason="ip"} = %.0f, want ≥ %d`, d, peers*each-1024)
	}
	for _, k := range []string{ak, pk} {
		if v, err := GetValue(t.Context(), victim.h, s.info.ID, k); err != nil || v == nil {
			t.Errorf("the victim's record is gone after the flood: %v", err)
		}
	}
}

// TestTURNCredentialsNeedUnrevokedDevice (finding 5): credentials go to a
// device its account's record shows unrevoked, not to a revoked one, and
// not to a device of an account with no record in the DHT.
func TestTURNCredentialsNeedUnrevokedDevice(t *testing.T) {
	s := startBootstrap(t, "127.0.0.1")
	good := newDevice(t, s, nil, "127.0.0.1")
	stolen := newDevice(t, s, good.Account, "127.0.0.1")
	good.publish(t, s, []*Device{good.Device}, []*Device{stolen.Device})
	if _, err := good.credentials(t.Context(), s); err != nil {
		t.Fatalf("an unrevoked device: %v", err)
	}
	if c, err := stolen.credentials(t.Context(), s); !errors.Is(err, credproto.ErrUnauthorized) {
		t.Fatalf("a revoked device got %v, %v; want ErrUnauthorized", c, err)
	}
	stranger := newDevice(t, s, nil, "127.0.0.1")
	if c, err := stranger.credentials(t.Context(), s); !errors.Is(err, credproto.ErrUnauthorized) {
		t.Fatalf("a device of an account with no record got %v, %v; want ErrUnauthorized", c, err)
	}
}

// TestTURNUsernamesOpaque (issue 18, item 4): a TURN username, which STUN
// sends in clear, names neither the device nor its account: each
// credential carries a fresh random token. The bootstrap still counts the
// allocations of all of a device's credentials against its quota, and once
// it has seen the device revoked it refuses the credentials it issued
// before, on its TURN server too.
func TestTURNUsernamesOpaque(t *testing.T) {
	s := startBootstrap(t, "127.0.0.1", "--turn-user-quota", "2", "--turn-credential-check-ttl", "10s")
	d := newDevice(t, s, nil, "127.0.0.1")
	other := newDevice(t, s, d.Account, "127.0.0.1")
	d.publish(t, s, []*Device{d.Device, other.Device}, nil)
	c1, err := d.credentials(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := d.credentials(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Username == c2.Username {
		t.Fatalf("two credentials of one device share the username %q", c1.Username)
	}
	for _, c := range []string{c1.Username, c2.Username} {
		for name, id := range map[string]string{"device ID": d.Key.ID().String(), "account ID": d.Account.Cert.ID.String()} {
			if strings.Contains(c, id) || strings.Contains(c, id[len(id)-10:]) {
				t.Fatalf("the TURN username %q carries the %s", c, name)
			}
		}
	}
	addr := turnAddr(t, c1)
	for i := range 2 {
		a, err := Allocate(addr, "127.0.0.1", c1.Username, c1.Password)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		defer a.Close()
	}
	var te *stun.TurnError
	if a, err := Allocate(addr, "127.0.0.1", c2.Username, c2.Password); !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeAllocQuotaReached {
		if a != nil {
			a.Close()
		}
		t.Fatalf("the device's second credential past its quota of 2: %v, want 486 Allocation Quota Reached", err)
	}

	d.publish(t, s, []*Device{other.Device}, []*Device{d.Device})
	test.WaitFor(t, 30*time.Second, func() error {
		if _, err := d.credentials(t.Context(), s); !errors.Is(err, credproto.ErrUnauthorized) {
			return fmt.Errorf("credential request: %v", err)
		}
		return nil
	})
	if a, err := Allocate(addr, "127.0.0.1", c2.Username, c2.Password); err == nil {
		a.Close()
		t.Fatal("a credential issued before the revocation still gets an allocation")
	}
}

// TestTURNAllocationQuota (finding 5): one credential cannot hold more
// than the per-device quota (32) of allocations.
func TestTURNAllocationQuota(t *testing.T) {
	s := startBootstrap(t, "127.0.0.1")
	d := newDevice(t, s, nil, "127.0.0.1")
	d.publish(t, s, []*Device{d.Device}, nil)
	c, err := d.credentials(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	addr := turnAddr(t, c)
	held := 0
	var refusal error
	for range 40 {
		a, err := Allocate(addr, "127.0.0.1", c.Username, c.Password)
		if err != nil {
			refusal = err
			break
		}
		defer a.Close()
		held++
	}
	var te *stun.TurnError
	if held != 32 || !errors.As(refusal, &te) || te.ErrorCodeAttr.Code != stun.CodeAllocQuotaReached {
		t.Fatalf("one credential holds %d allocations, then %v; want 32, then 486 Allocation Quota Reached", held, refusal)
	}
}

// TestTURNAddressQuota (finding 5): the devices of one address hold at most
// the per-address quota, however many devices they are.
func TestTURNAddressQuota(t *testing.T) {
	s := startBootstrap(t, "127.0.0.1", "--turn-ip-quota", "5", "--turn-user-quota", "3")
	held := 0
	for range 3 {
		d := newDevice(t, s, nil, "127.0.0.1")
		d.publish(t, s, []*Device{d.Device}, nil)
		c, err := d.credentials(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			a, err := Allocate(turnAddr(t, c), "127.0.0.1", c.Username, c.Password)
			if err != nil {
				continue
			}
			defer a.Close()
			held++
		}
	}
	if held != 5 {
		t.Fatalf("3 devices at one address hold %d allocations, want the address quota, 5", held)
	}
	if r := s.scrape(t)["parley_bootstrap_turn_allocations_refused_total"]; r != 4 {
		t.Errorf("turn_allocations_refused_total = %.0f, want 4", r)
	}
}

// TestTURNRefusesCGNATAndServer (finding 14): TURN does not relay to
// 100.64.0.0/10 nor to the server's own address, except to the server's own
// relay ports (two clients of the server relaying to each other). The
// server's own address must look public for the second part: the test
// runs TURN on the machine's first such IPv4 address, if it has one.
func TestTURNRefusesCGNATAndServer(t *testing.T) {
	ip := publicLookingIPv4()
	if ip == "" {
		t.Skip("no public-looking IPv4 address on this machine; turnsrv's TestServerAddressesRefused covers the rule on loopback")
	}
	s := startBootstrap(t, ip)
	d := newDevice(t, s, nil, "127.0.0.1")
	d.publish(t, s, []*Device{d.Device}, nil)
	c, err := d.credentials(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	addr := turnAddr(t, c)
	a, err := Allocate(addr, ip, c.Username, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Allocate(addr, ip, c.Username, c.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	var te *stun.TurnError
	if err := a.CreatePermission(&net.UDPAddr{IP: net.IPv4(100, 64, 0, 1), Port: 9}); !errors.As(err, &te) || te.ErrorCodeAttr.Code != stun.CodeForbidden {
		t.Errorf("permission for a CGNAT address: %v, want 403 Forbidden", err)
	}

	// Relay to relay on this server works...
	if err := b.CreatePermission(a.Relay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 10*time.Second, func() error {
		_, _ = a.Relay.WriteTo([]byte("relay to relay"), b.Relay.LocalAddr())
		buf := make([]byte, 64)
		_ = b.Relay.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := b.Relay.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte("relay to relay")) {
			return fmt.Errorf("B's relay got nothing from A's: %v", err)
		}
		return nil
	})
	// ... but nothing else listening on the server's address is reached.
	service, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	got := make(chan struct{})
	go func() {
		if _, _, err := service.ReadFrom(make([]byte, 64)); err == nil {
			close(got)
		}
	}()
	before := s.scrape(t)["parley_bootstrap_turn_dropped_packets_total"]
	const n = 20
	for range n {
		if _, err := a.Relay.WriteTo([]byte("let me in"), service.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	test.WaitFor(t, 10*time.Second, func() error {
		if d := s.scrape(t)["parley_bootstrap_turn_dropped_packets_total"] - before; d < n {
			select {
			case <-got:
				return wait.Stop(errors.New("the service got a datagram"))
			default:
			}
			return fmt.Errorf("%.0f of %d datagrams to the server's own port dropped", d, n)
		}
		return nil
	})
	select {
	case <-got:
		t.Fatal("a service on the server's own address got a datagram through TURN")
	default:
	}
}

// publicLookingIPv4 is the first IPv4 address of this machine that TURN
// does not refuse as private, loopback, link-local or CGNAT.
func publicLookingIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(n.IP.To4())
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || netip.MustParsePrefix("100.64.0.0/10").Contains(ip) {
			continue
		}
		return ip.String()
	}
	return ""
}

// TestCredentialFloodNoLockout (finding 6): garbage requests from more
// peers than the issuer keeps rate limiters for do not lock a newcomer out.
// With a rate of 1 a minute, a bucket a request emptied stays short of full
// for a minute, so an issuer that made buckets for garbage would be full of
// buckets it cannot prune.
func TestCredentialFloodNoLockout(t *testing.T) {
	if testing.Short() {
		t.Skip("floods from 4,200 peers")
	}
	s := startBootstrap(t, "127.0.0.1", "--turn-credential-rate", "1")
	// More senders than the issuer keeps limiters for (4096), with room
	// for a few whose connection fails on a loaded machine.
	const senders, need = 4400, 4100
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var reached atomic.Int64
	var mu sync.Mutex
	var firstErr error
	for range senders {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, err := garbageRequest(t.Context(), s.info)
			if ok {
				reached.Add(1)
			}
			if err != nil {
				mu.Lock()
				firstErr = cmpOr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := reached.Load(); n < need {
		t.Fatalf("only %d of %d garbage requests were answered (first failure: %v)", n, senders, firstErr)
	}
	d := newDevice(t, s, nil, "127.0.0.1")
	d.publish(t, s, []*Device{d.Device}, nil)
	if _, err := d.credentials(t.Context(), s); err != nil {
		t.Fatalf("a newcomer after garbage from %d peers: %v", reached.Load(), err)
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// garbageRequest sends one credential request of junk from a fresh peer
// and reports whether the server answered it (refusing it, as it must).
func garbageRequest(ctx context.Context, ai peer.AddrInfo) (answered bool, err error) {
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
	if err != nil {
		return false, err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		return false, err
	}
	_, err = credproto.Request(ctx, h, ai.ID, []byte("junk"), []byte("junk"))
	if errors.Is(err, credproto.ErrBadRequest) || errors.Is(err, credproto.ErrRateLimited) {
		return true, nil
	}
	return false, fmt.Errorf("garbage request: %w", err)
}

// TestRelayReservationsPerSubnet (finding 15): hosts of one IPv4 /24, one
// per address, hold at most 16 circuit relay reservations.
func TestRelayReservationsPerSubnet(t *testing.T) {
	s := startBootstrap(t, "127.0.0.1")
	held := 0
	for i := range 17 {
		h, err := NewHost(nil, fmt.Sprintf("127.0.0.%d", 10+i))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if err := Connect(t.Context(), h, s.info); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Reserve(t.Context(), h, s.info); err == nil {
			held++
		}
	}
	if held != 16 {
		t.Fatalf("17 addresses of one /24 hold %d reservations, want 16", held)
	}
	other, err := NewHost(nil, "127.0.1.10")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := Connect(t.Context(), other, s.info); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(t.Context(), other, s.info); err != nil {
		t.Fatalf("another /24: %v", err)
	}
}
