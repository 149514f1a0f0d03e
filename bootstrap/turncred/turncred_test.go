package turncred

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/crypto"
	credproto "github.com/parleyhq/parley/internal/turncred"
	ptest "github.com/parleyhq/parley/test"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type device struct {
	key  *crypto.DeviceKey
	cert *crypto.DeviceCert
}

type acct struct {
	key  *crypto.AccountKey
	cert *crypto.AccountCert
}

func newAcct(t *testing.T) acct {
	t.Helper()
	k, err := crypto.NewAccountKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := crypto.CreateAccountCert(k, "", crypto.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return acct{k, c}
}

func (a acct) device(t *testing.T, o crypto.CertOptions) device {
	t.Helper()
	dk, err := crypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := crypto.IssueDeviceCert(a.key, a.cert, dk.Public(), "", o)
	if err != nil {
		t.Fatal(err)
	}
	return device{dk, dc}
}

// newHost starts a libp2p host on loopback TCP; dk nil means a random key.
func newHost(t *testing.T, dk *crypto.DeviceKey) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay()}
	if dk != nil {
		// libp2p keeps the slice it is given: do not clear it.
		k, err := lcrypto.UnmarshalEd25519PrivateKey(dk.Ed25519())
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, libp2p.Identity(k))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

type env struct {
	issuer *Issuer
	server host.Host
	clock  *clock
	logs   *ptest.SyncBuffer
}

func newEnv(t *testing.T, rate int) *env {
	t.Helper()
	e := &env{clock: &clock{t: time.Now()}, logs: &ptest.SyncBuffer{}, server: newHost(t, nil)}
	e.issuer = &Issuer{
		Secret:        []byte("0123456789abcdef-test-secret"),
		TTL:           5 * time.Minute,
		URLs:          []string{"turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"},
		RatePerMinute: rate,
		Now:           e.clock.Now,
		Logger:        slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:       &Metrics{},
	}
	if err := e.issuer.Check(); err != nil {
		t.Fatal(err)
	}
	e.issuer.Register(e.server)
	return e
}

// client starts the host of device d, knowing the server's addresses.
func (e *env) client(t *testing.T, d device) host.Host {
	t.Helper()
	h := newHost(t, d.key)
	h.Peerstore().AddAddrs(e.server.ID(), e.server.Addrs(), peerstore.PermanentAddrTTL)
	return h
}

func (e *env) request(t *testing.T, h host.Host, ac *crypto.AccountCert, dc *crypto.DeviceCert) (*credproto.Credentials, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return credproto.Request(ctx, h, e.server.ID(), ac.Raw(), dc.Raw())
}

func TestIssue(t *testing.T) {
	e := newEnv(t, 0)
	a := newAcct(t)
	d := a.device(t, crypto.CertOptions{})
	h := e.client(t, d)
	c, err := e.request(t, h, a.cert, d.cert)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	wantUser, wantPass := turnsrv.Credentials(e.issuer.Secret, d.key.ID().String(), 5*time.Minute, now)
	if c.Username != wantUser || c.Password != wantPass {
		t.Fatalf("credentials %q/%q, want %q/%q", c.Username, c.Password, wantUser, wantPass)
	}
	if !c.Expires.Equal(time.Unix(now.Add(5*time.Minute).Unix(), 0)) {
		t.Errorf("Expires = %v, want %v", c.Expires, now.Add(5*time.Minute))
	}
	if !slices.Equal(c.URLs, e.issuer.URLs) {
		t.Errorf("URLs = %v, want %v", c.URLs, e.issuer.URLs)
	}
	if got := e.issuer.Metrics.Issued.Load(); got != 1 {
		t.Errorf("Metrics.Issued = %d, want 1", got)
	}
	if strings.Contains(e.logs.String(), c.Password) {
		t.Errorf("the password was logged:\n%s", e.logs.String())
	}
}

func TestRefused(t *testing.T) {
	e := newEnv(t, 0)
	a, b := newAcct(t), newAcct(t)
	d1 := a.device(t, crypto.CertOptions{})
	d2 := a.device(t, crypto.CertOptions{})
	other := b.device(t, crypto.CertOptions{})
	now := e.clock.Now()
	expired := a.device(t, crypto.CertOptions{NotBefore: now.Add(-3 * time.Hour), NotAfter: now.Add(-30 * time.Minute)}) // the account cert is backdated 1 h: stay after it
	notYet := a.device(t, crypto.CertOptions{NotBefore: now.Add(time.Hour), NotAfter: now.Add(3 * time.Hour)})
	tests := []struct {
		name    string
		dev     device // whose host connects
		ac, dc  []byte
		want    error
		refused uint64
	}{
		{"another device's certificate", d1, a.cert.Raw(), d2.cert.Raw(), credproto.ErrWrongDevice, 1},
		{"expired device certificate", expired, a.cert.Raw(), expired.cert.Raw(), credproto.ErrUnauthorized, 1},
		{"device certificate not yet valid", notYet, a.cert.Raw(), notYet.cert.Raw(), credproto.ErrUnauthorized, 1},
		{"device of another account", other, a.cert.Raw(), other.cert.Raw(), credproto.ErrUnauthorized, 1},
		{"account certificate swapped for device's", d1, d1.cert.Raw(), d1.cert.Raw(), credproto.ErrBadRequest, 1},
		{"garbage certificates", d1, []byte("junk"), []byte("junk"), credproto.ErrBadRequest, 1},
		{"empty certificates", d1, nil, nil, credproto.ErrBadRequest, 1},
		{"oversize request", d1, make([]byte, credproto.MaxRequestSize), []byte("x"), credproto.ErrBadRequest, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.issuer.Metrics.Refused.Load()
			h := e.client(t, tt.dev)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := credproto.Request(ctx, h, e.server.ID(), tt.ac, tt.dc)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Request = %v, %v; want %v", c, err, tt.want)
			}
			if got := e.issuer.Metrics.Refused.Load() - before; got != tt.refused {
				t.Errorf("Metrics.Refused grew by %d, want %d", got, tt.refused)
			}
		})
	}
	if got := e.issuer.Metrics.Issued.Load(); got != 0 {
		t.Errorf("Metrics.Issued = %d, want 0", got)
	}
}

func TestRateLimit(t *testing.T) {
	const n = 3
	e := newEnv(t, n)
	a := newAcct(t)
	d := a.device(t, crypto.CertOptions{})
	h := e.client(t, d)
	for i := range n {
		if _, err := e.request(t, h, a.cert, d.cert); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if _, err := e.request(t, h, a.cert, d.cert); !errors.Is(err, credproto.ErrRateLimited) {
		t.Fatalf("request %d: %v, want credproto.ErrRateLimited", n+1, err)
	}
	// Another device is not affected.
	d2 := a.device(t, crypto.CertOptions{})
	if _, err := e.request(t, e.client(t, d2), a.cert, d2.cert); err != nil {
		t.Fatalf("other device: %v", err)
	}
	// One token comes back every 60s/n.
	e.clock.Advance(time.Minute/n + time.Second)
	if _, err := e.request(t, h, a.cert, d.cert); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if _, err := e.request(t, h, a.cert, d.cert); !errors.Is(err, credproto.ErrRateLimited) {
		t.Fatalf("after one refill, second request: %v, want credproto.ErrRateLimited", err)
	}
}

func TestServerMisconfigured(t *testing.T) {
	e := newEnv(t, 0)
	e.issuer.Secret = []byte("short")
	a := newAcct(t)
	d := a.device(t, crypto.CertOptions{})
	if _, err := e.request(t, e.client(t, d), a.cert, d.cert); !errors.Is(err, credproto.ErrServer) {
		t.Fatalf("Request = %v, want credproto.ErrServer", err)
	}
}

func TestRequestCancelled(t *testing.T) {
	e := newEnv(t, 0)
	a := newAcct(t)
	d := a.device(t, crypto.CertOptions{})
	h := e.client(t, d)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := credproto.Request(ctx, h, e.server.ID(), a.cert.Raw(), d.cert.Raw()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Request = %v, want context.Canceled", err)
	}
}

func TestPrune(t *testing.T) {
	is := &Issuer{RatePerMinute: 2}
	now := time.Now()
	is.limiters = nil
	for i, want := range []bool{true, true, false} {
		if got := is.allow("a", now); got != want {
			t.Fatalf("request %d: allow = %v, want %v", i+1, got, want)
		}
	}
	is.allow("b", now)
	is.pruneLocked(now.Add(time.Hour), 2)
	if len(is.limiters) != 0 {
		t.Fatalf("%d limiters left after prune", len(is.limiters))
	}
}

// TestOversizeOnWire sends the server more than credproto.MaxRequestSize bytes
// directly: it answers "bad request" without reading further.
func TestOversizeOnWire(t *testing.T) {
	e := newEnv(t, 0)
	a := newAcct(t)
	d := a.device(t, crypto.CertOptions{})
	h := e.client(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, e.server.ID(), credproto.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := credproto.EncodeRequest(credproto.RequestMsg{AccountCert: make([]byte, credproto.MaxRequestSize), DeviceCert: []byte("x")})
	if _, err := s.Write(big); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	data, err := io.ReadAll(io.LimitReader(s, credproto.MaxResponseSize+1))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := credproto.DecodeResponse(data)
	if err != nil || resp.Code != credproto.CodeBadRequest {
		t.Fatalf("response %+v, %v; want bad request", resp, err)
	}
}
