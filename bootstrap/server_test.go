package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/pion/turn/v5"

	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/internal/turncred"
	ptest "github.com/parleyhq/parley/test"
)

var testSecret = []byte("parley-bootstrap-test-secret")

// running is a server whose Run goroutine the test controls.
type running struct {
	*Server
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, set before done is closed
	log    *ptest.SyncBuffer
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("Run: %v", r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func testConfig(dir string, peers ...string) Config {
	return Config{
		DataDir:     dir,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Peers:       peers,
		TURN:        TURNConfig{ListenAddr: "127.0.0.1:0", Secret: testSecret, AllowPrivatePeers: true},
		MetricsAddr: "127.0.0.1:0",
	}
}

// start runs a server with cfg until the test ends.
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	lb := &ptest.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: s, cancel: cancel, done: make(chan struct{}), log: lb}
	go func() {
		r.err = s.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
		if t.Failed() {
			t.Logf("log of %s:\n%s", s.Host().ID(), lb.String())
		}
	})
	return r
}

func addrStrings(s *Server) []string {
	var out []string
	for _, a := range s.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// testAccount makes an account with one device.
type testAccount struct {
	key  *crypto.AccountKey
	cert *crypto.AccountCert
	dev  *crypto.DeviceKey
	dc   *crypto.DeviceCert
}

func newTestAccount(t *testing.T) *testAccount {
	t.Helper()
	ak, err := crypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := crypto.CreateAccountCert(ak, "", crypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := crypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := crypto.IssueDeviceCert(ak, ac, dk.Public(), "", crypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &testAccount{ak, ac, dk, dc}
}

// newDevice issues a certificate for a new device of the account.
func (a *testAccount) newDevice(t *testing.T) (*crypto.DeviceKey, *crypto.DeviceCert) {
	t.Helper()
	dk, err := crypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := crypto.IssueDeviceCert(a.key, a.cert, dk.Public(), "", crypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dk, dc
}

func (a *testAccount) record(t *testing.T, seq uint64) []byte {
	t.Helper()
	rec, err := records.NewAccount(a.key, a.cert, []*crypto.DeviceCert{a.dc}, nil, seq, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// threeServers starts three bootstraps peered with each other and waits
// until every routing table holds the other two.
func threeServers(t *testing.T) []*running {
	t.Helper()
	a := start(t, testConfig(t.TempDir()))
	b := start(t, testConfig(t.TempDir(), addrStrings(a.Server)...))
	c := start(t, testConfig(t.TempDir(), append(addrStrings(a.Server), addrStrings(b.Server)...)...))
	all := []*running{a, b, c}
	ptest.WaitFor(t, 20*time.Second, func() error {
		for _, s := range all {
			if n := s.DHT().RoutingTable().Size(); n != 2 {
				return fmt.Errorf("%s: routing table has %d peers, want 2", s.Host().ID(), n)
			}
		}
		return nil
	})
	return all
}

func TestDHTAcrossServers(t *testing.T) {
	srv := threeServers(t)
	a := newTestAccount(t)
	key := records.AccountKey(a.key.ID())
	good := a.record(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := srv[0].DHT().PutValue(ctx, key, good); err != nil {
		t.Fatalf("PutValue: %v", err)
	}
	got, err := srv[2].DHT().GetValue(ctx, key)
	if err != nil || !bytes.Equal(got, good) {
		t.Fatalf("GetValue from another server: %v (equal: %v)", err, bytes.Equal(got, good))
	}

	forged := bytes.Clone(a.record(t, 9))
	forged[len(forged)-1] ^= 1
	stale := a.record(t, 1)
	tests := []struct {
		name  string
		value []byte
	}{
		{"forged", forged},
		{"stale", stale},
		{"garbage", []byte("garbage")},
	}
	for _, tt := range tests {
		for i, s := range srv {
			t.Run(fmt.Sprintf("%s via server %d", tt.name, i), func(t *testing.T) {
				if err := s.DHT().PutValue(ctx, key, tt.value); err == nil {
					t.Fatal("PutValue accepted the record")
				}
			})
		}
	}

	// A rogue DHT client that accepts anything pushes the bad records to
	// the servers directly; they must refuse to store them.
	rogue := rogueDHT(t, srv)
	for _, tt := range tests {
		_ = rogue.PutValue(ctx, key, tt.value) // the servers' refusals are not reported
	}
	// Control: a valid record the rogue pushes does reach the servers, so
	// the refusals above are the validators' doing.
	other := newTestAccount(t)
	otherKey := records.AccountKey(other.key.ID())
	otherRec := other.record(t, 1)
	if err := rogue.PutValue(ctx, otherKey, otherRec); err != nil {
		t.Fatalf("rogue PutValue of a valid record: %v", err)
	}
	ptest.WaitFor(t, 10*time.Second, func() error {
		for i, s := range srv {
			if v, err := s.DHT().GetValue(ctx, otherKey, routing.Offline); err != nil || !bytes.Equal(v, otherRec) {
				return fmt.Errorf("server %d does not store the rogue's valid record: %v", i, err)
			}
		}
		return nil
	})
	for i, s := range srv {
		if local, err := s.DHT().GetValue(ctx, key, routing.Offline); err == nil && !bytes.Equal(local, good) {
			t.Errorf("server %d stores a record other than the good one", i)
		}
		v, err := s.DHT().GetValue(ctx, key)
		if err != nil || !bytes.Equal(v, good) {
			t.Errorf("server %d: GetValue = %v, good: %v", i, err, bytes.Equal(v, good))
		}
	}
	// The record is counted.
	body := get(t, srv[0].MetricsAddr(), "/metrics", http.StatusOK)
	if !strings.Contains(body, "parley_bootstrap_dht_records 2\n") {
		t.Errorf("/metrics does not count the record:\n%s", grepLines(body, "parley_bootstrap_dht_records"))
	}
}

// acceptAll is the validator of a rogue DHT node.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

func rogueDHT(t *testing.T, srv []*running) *dht.IpfsDHT {
	t.Helper()
	h := newHost(t, nil)
	var peers []peer.AddrInfo
	for _, s := range srv {
		peers = append(peers, peer.AddrInfo{ID: s.Host().ID(), Addrs: s.Host().Addrs()})
	}
	d, err := dht.New(h, dht.ProtocolPrefix(records.ProtocolPrefix), dht.Validator(acceptAll{}),
		dht.Mode(dht.ModeClient), dht.DisableProviders(), dht.BootstrapPeers(peers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for _, p := range peers {
		if err := h.Connect(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	ptest.WaitFor(t, 10*time.Second, func() error {
		if n := d.RoutingTable().Size(); n != len(srv) {
			return fmt.Errorf("rogue routing table has %d peers", n)
		}
		return nil
	})
	return d
}

func newHost(t *testing.T, k lcrypto.PrivKey) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay()}
	if k != nil {
		opts = append(opts, libp2p.Identity(k))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func get(t *testing.T, addr net.Addr, path string, want int) string {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d", path, resp.Status, want)
	}
	return string(b)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestMetricsAndHealth(t *testing.T) {
	s := start(t, testConfig(t.TempDir()))
	if got := get(t, s.MetricsAddr(), "/healthz", http.StatusOK); got != "ok" {
		t.Errorf("/healthz = %q, want ok", got)
	}
	body := get(t, s.MetricsAddr(), "/metrics", http.StatusOK)
	for _, m := range []string{
		"parley_bootstrap_connected_peers", "parley_bootstrap_dht_routing_table_size", "parley_bootstrap_dht_records",
		"parley_bootstrap_relay_reservations", "parley_bootstrap_relay_circuits",
		`parley_bootstrap_turn_auth_total{result="ok"}`, `parley_bootstrap_turn_auth_total{result="fail"}`,
		`parley_bootstrap_turn_credentials_total{result="issued"}`, "parley_bootstrap_turn_allocations",
		"parley_bootstrap_dht_record_bytes", `parley_bootstrap_dht_records_dropped_total{reason="peer"}`,
		"parley_bootstrap_turn_allocations_refused_total", "parley_bootstrap_turn_peers_refused_total",
		"go_goroutines", "go_gc_heap_live_bytes",
	} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestTURNCredentials takes credentials from the bootstrap over libp2p and
// allocates a relay with them on the bootstrap's TURN server.
func TestTURNCredentials(t *testing.T) {
	s := start(t, testConfig(t.TempDir()))
	a := newTestAccount(t)
	k, err := lcrypto.UnmarshalEd25519PrivateKey(a.dev.Ed25519()) // libp2p keeps the slice
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, k)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: s.Host().ID(), Addrs: s.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Credentials go only to devices of accounts whose record is in the DHT.
	if _, err := turncred.Request(ctx, h, s.Host().ID(), a.cert.Raw(), a.dc.Raw()); !errors.Is(err, turncred.ErrUnauthorized) {
		t.Fatalf("credentials for an account without a record: %v, want ErrUnauthorized", err)
	}
	// The server is alone: PutValue stores the record here, then finds no
	// peer to send it to.
	_ = s.DHT().PutValue(ctx, records.AccountKey(a.key.ID()), a.record(t, 1))
	if _, err := s.DHT().GetValue(ctx, records.AccountKey(a.key.ID()), routing.Offline); err != nil {
		t.Fatal(err)
	}
	// The refusal is remembered for turncred.NegativeCheckTTL; a new
	// device of the account is checked afresh.
	a.dev, a.dc = a.newDevice(t)
	k, err = lcrypto.UnmarshalEd25519PrivateKey(a.dev.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	h = newHost(t, k)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: s.Host().ID(), Addrs: s.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	creds, err := turncred.Request(ctx, h, s.Host().ID(), a.cert.Raw(), a.dc.Raw())
	if err != nil {
		t.Fatal(err)
	}
	wantURL := fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", s.TURNAddr().Port)
	if len(creds.URLs) != 3 || creds.URLs[0] != wantURL {
		t.Errorf("URLs = %v, want %s first", creds.URLs, wantURL)
	}

	allocate := func(user, pass string) error {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		addr := s.TURNAddr().String()
		c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
			Username: user, Password: pass, Realm: turnsrv.DefaultRealm, RTO: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		relay, err := c.Allocate()
		if err != nil {
			return err
		}
		return relay.Close()
	}
	if err := allocate(creds.Username, creds.Password); err != nil {
		t.Fatalf("Allocate with issued credentials: %v", err)
	}
	if err := allocate(creds.Username, "wrong"+creds.Password); err == nil {
		t.Fatal("Allocate with a wrong password succeeded")
	}
	body := get(t, s.MetricsAddr(), "/metrics", http.StatusOK)
	for _, m := range []string{`parley_bootstrap_turn_credentials_total{result="issued"} 1`, `parley_bootstrap_turn_credentials_total{result="refused"} 1`, `parley_bootstrap_turn_allocations_total 1`} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %q:\n%s", m, grepLines(body, "turn"))
		}
	}
	if strings.Contains(s.log.String(), creds.Password) || strings.Contains(s.log.String(), string(testSecret)) {
		t.Error("a secret was logged")
	}
}

// TestRestartKeepsIdentity stops a server and starts a new one on the same
// data dir and ports: the peer ID is the same and the other server, which
// kept redialling, reconnects and puts it back in its routing table.
func TestRestartKeepsIdentity(t *testing.T) {
	dir := t.TempDir()
	b := start(t, testConfig(dir))
	id := b.Host().ID()
	addrs := b.Host().Network().ListenAddresses()
	a := start(t, testConfig(t.TempDir(), addrStrings(b.Server)...))
	waitRT := func(want int) {
		ptest.WaitFor(t, 20*time.Second, func() error {
			if n := a.DHT().RoutingTable().Size(); n != want {
				return fmt.Errorf("routing table has %d peers, want %d", n, want)
			}
			return nil
		})
	}
	waitRT(1)
	b.stop(t)
	ptest.WaitFor(t, 10*time.Second, func() error {
		if a.Host().Network().Connectedness(id) == network.Connected {
			return errors.New("still connected to the stopped server")
		}
		return nil
	})

	cfg := testConfig(dir)
	cfg.ListenAddrs = nil
	for _, ad := range addrs {
		cfg.ListenAddrs = append(cfg.ListenAddrs, ad.String())
	}
	b2 := start(t, cfg)
	if b2.Host().ID() != id {
		t.Fatalf("peer ID after restart = %s, want %s", b2.Host().ID(), id)
	}
	ptest.WaitFor(t, 40*time.Second, func() error {
		if a.Host().Network().Connectedness(id) != network.Connected {
			return errors.New("not reconnected")
		}
		if a.DHT().RoutingTable().Find(id) == "" {
			return errors.New("not back in the routing table")
		}
		return nil
	})
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v", err, st.Mode().Perm())
	}
}

// TestRunStops checks that Run returns on cancel, Close is idempotent, the
// sockets are released and the goroutines settle.
func TestRunStops(t *testing.T) {
	// Warm up process-wide goroutines (libp2p, quic-go) before counting.
	s0, err := New(testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	s0.Close()
	before := runtime.NumGoroutine()

	s, err := New(testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	metrics := s.MetricsAddr()
	turnAddr := s.TURNAddr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	get(t, metrics, "/healthz", http.StatusOK)
	if err := s.Run(ctx); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if _, err := http.Get("http://" + metrics.String() + "/healthz"); err == nil {
		t.Error("metrics server still answers")
	}
	pc, err := net.ListenPacket("udp", turnAddr.String())
	if err != nil {
		t.Errorf("TURN port not released: %v", err)
	} else {
		pc.Close()
	}
	ptest.WaitFor(t, 10*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before+2 {
			return fmt.Errorf("%d goroutines, %d before", n, before)
		}
		return nil
	})
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"no data dir", func(c *Config) { c.DataDir = "" }, ErrConfig},
		{"bad listen addr", func(c *Config) { c.ListenAddrs = []string{"not-a-multiaddr"} }, ErrConfig},
		{"peer without ID", func(c *Config) { c.Peers = []string{"/ip4/127.0.0.1/tcp/4001"} }, ErrConfig},
		{"bad relay IP", func(c *Config) { c.TURN.RelayIP = "host.example" }, ErrConfig},
		{"short secret", func(c *Config) { c.TURN.Secret = []byte("short") }, ErrConfig},
		{"negative relay limit", func(c *Config) { c.Relay.MaxCircuits = -1 }, ErrConfig},
		{"bad TURN listen addr", func(c *Config) { c.TURN.ListenAddr = "3478" }, ErrConfig},
		{"too many TURN sockets", func(c *Config) { c.TURN.UDPSockets = 1000 }, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(dir)
			tt.mod(&cfg)
			s, err := New(cfg)
			if !errors.Is(err, tt.want) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.TURN.Secret = nil
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, SecretFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated secret: %v, mode %v", err, st.Mode().Perm())
	}
	first, err := loadOrCreateSecret(path)
	if err != nil || len(first) != 64 {
		t.Fatalf("secret %d bytes, %v", len(first), err)
	}
	// A second start reuses it.
	if s, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again, _ := loadOrCreateSecret(path)
	if !bytes.Equal(first, again) {
		t.Error("secret changed on restart")
	}
	// A world-readable secret file is refused.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = New(cfg); !errors.Is(err, ErrInsecureKeyFile) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("New with a 0644 secret = %v, want ErrInsecureKeyFile", err)
	}
}

// TestDataDirLock: a second server on a data dir in use fails at once and
// says why; once the first closes, the dir is free again.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, TURN: TURNConfig{Disabled: true}}
	s1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("second server: %v", err)
	}
	s1.Close()
	s2, err := New(cfg)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	s2.Close()
}
