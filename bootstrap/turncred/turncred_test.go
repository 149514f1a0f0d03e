package turncred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
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

// accounts are every acct the tests made, so that an env can publish the
// record of any account a request names.
var accounts sync.Map // crypto.AccountID → acct

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
	a := acct{k, c}
	accounts.Store(c.ID, a)
	return a
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
	dht    *directory
}

// directory is the issuer's view of the DHT: the account records
// published, as the bootstrap's lookup returns them.
type directory struct {
	mu      sync.Mutex
	records map[crypto.AccountID]*records.Account
	// all: every account the tests make publishes its record unless
	// unpublished.
	unpublished map[crypto.AccountID]bool
	fail        error  // when set, every lookup fails with it
	seq         uint64 // the last record sequence number made
}

func (d *directory) lookup(_ context.Context, id crypto.AccountID) (*records.Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return nil, d.fail
	}
	if a := d.records[id]; a != nil && !d.unpublished[id] {
		return a, nil
	}
	return nil, fmt.Errorf("account %s: %w", id.Short(), ErrNoAccountRecord)
}

// publish puts a's record, listing devs and revoking revoked, in the DHT.
func (d *directory) publish(t *testing.T, a acct, devs []device, revoked ...device) {
	t.Helper()
	var crl *crypto.CRL
	if len(revoked) > 0 {
		var serials []*big.Int
		for _, r := range revoked {
			serials = append(serials, r.cert.Serial())
		}
		var err error
		if crl, err = crypto.CreateCRL(a.key, a.cert, nil, serials, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var dcs []*crypto.DeviceCert
	for _, dv := range devs {
		dcs = append(dcs, dv.cert)
	}
	now := time.Now()
	d.mu.Lock()
	d.seq = max(d.seq+1, uint64(now.UnixMilli()))
	seq := d.seq
	d.mu.Unlock()
	raw, err := records.NewAccount(a.key, a.cert, dcs, crl, seq, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := records.ParseAccount(records.AccountKey(a.cert.ID), raw, now)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.records == nil {
		d.records = make(map[crypto.AccountID]*records.Account)
	}
	d.records[a.cert.ID] = rec
}

func newEnv(t *testing.T, rate int) *env {
	t.Helper()
	e := &env{clock: &clock{t: time.Now()}, logs: &ptest.SyncBuffer{}, server: newHost(t, nil), dht: &directory{unpublished: map[crypto.AccountID]bool{}}}
	e.issuer = &Issuer{
		Secret:        []byte("0123456789abcdef-test-secret"),
		TTL:           5 * time.Minute,
		URLs:          []string{"turn:127.0.0.1:3478?transport=udp", "stun:127.0.0.1:3478"},
		RatePerMinute: rate,
		Accounts:      e.dht.lookup,
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

// ensurePublished publishes, for the accounts named by the account
// certificates in ders that the test made, a record listing no device,
// unless the test published one itself or marked the account unpublished.
func (e *env) ensurePublished(t *testing.T, ders ...[]byte) {
	t.Helper()
	for _, der := range ders {
		ac, err := crypto.ParseAccountCert(der)
		if err != nil {
			continue
		}
		v, ok := accounts.Load(ac.ID)
		e.dht.mu.Lock()
		have := e.dht.records[ac.ID] != nil
		e.dht.mu.Unlock()
		if ok && !have {
			e.dht.publish(t, v.(acct), nil)
		}
	}
}

func (e *env) request(t *testing.T, h host.Host, ac *crypto.AccountCert, dc *crypto.DeviceCert) (*credproto.Credentials, error) {
	t.Helper()
	e.ensurePublished(t, ac.Raw())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return credproto.Request(ctx, h, e.server.ID(), ac.Raw(), dc.Raw())
}

// TestIssue: the credentials are TURN REST ones (coturn's use-auth-secret
// accepts them) whose username is "<expiry>:<token>", the token random per
// credential and mapped to the device only in the issuer's table: neither
// the device ID nor the account ID appears in the username, which STUN
// sends in clear.
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
	exp, token, err := credproto.ParseUsername(c.Username)
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"device ID": d.key.ID().String(), "account ID": a.cert.ID.String()} {
		for _, part := range []string{id, id[:8], id[len(id)-8:]} {
			if strings.Contains(c.Username, part) {
				t.Fatalf("the TURN username %q carries the %s (%q)", c.Username, name, part)
			}
		}
	}
	if len(token) != turnsrv.TokenLen {
		t.Errorf("token %q is %d characters, want %d", token, len(token), turnsrv.TokenLen)
	}
	wantUser, wantPass := turnsrv.Credentials(e.issuer.Secret, token, 5*time.Minute, now)
	if c.Username != wantUser || c.Password != wantPass || exp.Unix() != now.Add(5*time.Minute).Unix() {
		t.Fatalf("credentials %q/%q, want %q/%q", c.Username, c.Password, wantUser, wantPass)
	}
	if dev, known, revoked := e.issuer.Tokens.Lookup(token); !known || revoked || dev != d.key.ID().String() {
		t.Fatalf("token table: %q known %v revoked %v, want device %s", dev, known, revoked, d.key.ID())
	}
	c2, err := e.request(t, h, a.cert, d.cert)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Username == c.Username {
		t.Errorf("two credentials share the username %q", c.Username)
	}
	if !c.Expires.Equal(time.Unix(now.Add(5*time.Minute).Unix(), 0)) {
		t.Errorf("Expires = %v, want %v", c.Expires, now.Add(5*time.Minute))
	}
	if !slices.Equal(c.URLs, e.issuer.URLs) {
		t.Errorf("URLs = %v, want %v", c.URLs, e.issuer.URLs)
	}
	if got := e.issuer.Metrics.Issued.Load(); got != 2 {
		t.Errorf("Metrics.Issued = %d, want 2", got)
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
			e.ensurePublished(t, tt.ac)
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

// TestLimiterTableEvicts: when the table of rate limiters is full, a
// newcomer gets a bucket (the least recently used device loses its own)
// instead of being refused: a flood of devices cannot lock others out.
func TestLimiterTableEvicts(t *testing.T) {
	is := &Issuer{RatePerMinute: 2}
	now := time.Now()
	for i := range maxLimiters + 100 {
		is.allow(peer.ID(fmt.Sprint("flooder-", i)), now)
	}
	if !is.allow("newcomer", now) {
		t.Fatal("a newcomer was refused because the limiter table was full")
	}
	if n := is.limiters.len(); n != maxLimiters {
		t.Fatalf("%d limiters kept, want %d", n, maxLimiters)
	}
	// A device's own limit still holds.
	for i, want := range []bool{true, false} {
		if got := is.allow("newcomer", now); got != want {
			t.Fatalf("newcomer request %d: allow = %v, want %v", i+2, got, want)
		}
	}
}

// TestGarbageMakesNoLimiters: requests that do not validate are refused
// before any rate limiter is made for their sender, so garbage from any
// number of peers neither fills the table nor uses anyone's tokens.
func TestGarbageMakesNoLimiters(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	a := newAcct(t)
	d := a.device(t, crypto.CertOptions{})
	for i := range 2 * maxLimiters {
		if _, err := e.issuer.issue(ctx, peer.ID(fmt.Sprint("garbage-", i)), []byte("junk")); !errors.Is(err, credproto.ErrBadRequest) {
			t.Fatalf("garbage request: %v, want ErrBadRequest", err)
		}
	}
	// A valid request from another peer (a stolen certificate) is refused
	// before it can spend the device's one token.
	req := credproto.EncodeRequest(credproto.RequestMsg{AccountCert: a.cert.Raw(), DeviceCert: d.cert.Raw()})
	if _, err := e.issuer.issue(ctx, "thief", req); !errors.Is(err, credproto.ErrWrongDevice) {
		t.Fatalf("stolen certificate: %v, want ErrWrongDevice", err)
	}
	if n := e.issuer.limiters.len(); n != 0 {
		t.Fatalf("%d rate limiters made for requests that did not validate", n)
	}
	if _, err := e.request(t, e.client(t, d), a.cert, d.cert); err != nil {
		t.Fatalf("the device after the garbage: %v", err)
	}
}

// TestRevokedDeviceRefused: credentials go only to devices whose account
// record shows them unrevoked, and only when the account has a record.
func TestRevokedDeviceRefused(t *testing.T) {
	e := newEnv(t, 0)
	a := newAcct(t)
	good, stolen := a.device(t, crypto.CertOptions{}), a.device(t, crypto.CertOptions{})
	e.dht.publish(t, a, []device{good}, stolen)
	if _, err := e.request(t, e.client(t, good), a.cert, good.cert); err != nil {
		t.Fatalf("unrevoked device: %v", err)
	}
	_, err := e.request(t, e.client(t, stolen), a.cert, stolen.cert)
	if !errors.Is(err, credproto.ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked device: %v, want ErrUnauthorized (revoked)", err)
	}

	b := newAcct(t)
	e.dht.unpublished[b.cert.ID] = true
	nb := b.device(t, crypto.CertOptions{})
	if _, err := e.request(t, e.client(t, nb), b.cert, nb.cert); !errors.Is(err, credproto.ErrUnauthorized) {
		t.Fatalf("account without a record: %v, want ErrUnauthorized", err)
	}
	e.dht.fail = errors.New("DHT unreachable")
	nb2 := b.device(t, crypto.CertOptions{})
	if _, err := e.request(t, e.client(t, nb2), b.cert, nb2.cert); !errors.Is(err, credproto.ErrServer) {
		t.Fatalf("failed lookup: %v, want ErrServer", err)
	}
}

// TestRecordCheckCached: the account record is looked up once per device
// and CheckTTL; a revocation published later takes effect once the cached
// verdict expires.
func TestRecordCheckCached(t *testing.T) {
	e := newEnv(t, 100)
	a := newAcct(t)
	d := a.device(t, crypto.CertOptions{})
	e.dht.publish(t, a, []device{d})
	h := e.client(t, d)
	var tokens []string
	for range 5 {
		c, err := e.request(t, h, a.cert, d.cert)
		if err != nil {
			t.Fatal(err)
		}
		_, tok, _ := credproto.ParseUsername(c.Username)
		tokens = append(tokens, tok)
	}
	if n := e.issuer.Metrics.Lookups.Load(); n != 1 {
		t.Fatalf("%d lookups for 5 requests within CheckTTL, want 1", n)
	}
	e.dht.publish(t, a, nil, d) // revoked
	if _, err := e.request(t, h, a.cert, d.cert); err != nil {
		t.Fatalf("within CheckTTL the cached verdict stands: %v", err)
	}
	e.clock.Advance(DefaultCheckTTL + time.Second)
	if _, err := e.request(t, h, a.cert, d.cert); !errors.Is(err, credproto.ErrUnauthorized) {
		t.Fatalf("after CheckTTL: %v, want ErrUnauthorized", err)
	}
	if n := e.issuer.Metrics.Lookups.Load(); n != 2 {
		t.Fatalf("%d lookups, want 2", n)
	}
	// The credentials it was given before are revoked for the TURN
	// server that shares the token table.
	for _, tok := range tokens {
		if _, known, revoked := e.issuer.Tokens.Lookup(tok); !known || !revoked {
			t.Fatalf("token of the revoked device: known %v revoked %v", known, revoked)
		}
	}
}

// TestAccountChangedForgetsVerdict: a new account record (the bootstrap's
// DHT store took one) makes the issuer forget its cached verdicts on that
// account's devices, so a revocation counts at the next request instead of
// after CheckTTL (a revoked device that had fetched credentials shortly
// before, as its spare ICE leg does, got new ones for 5 minutes).
func TestAccountChangedForgetsVerdict(t *testing.T) {
	e := newEnv(t, 100)
	a, other := newAcct(t), newAcct(t)
	d, od := a.device(t, crypto.CertOptions{}), other.device(t, crypto.CertOptions{})
	e.dht.publish(t, a, []device{d})
	e.dht.publish(t, other, []device{od})
	h, oh := e.client(t, d), e.client(t, od)
	for _, r := range []struct {
		h    host.Host
		acct acct
		dev  device
	}{{h, a, d}, {oh, other, od}} {
		if _, err := e.request(t, r.h, r.acct.cert, r.dev.cert); err != nil {
			t.Fatal(err)
		}
	}
	e.dht.publish(t, a, nil, d) // revoked
	e.issuer.AccountChanged(a.cert.ID)
	if _, err := e.request(t, h, a.cert, d.cert); !errors.Is(err, credproto.ErrUnauthorized) {
		t.Fatalf("after the new record: %v, want ErrUnauthorized", err)
	}
	lookups := e.issuer.Metrics.Lookups.Load()
	if _, err := e.request(t, oh, other.cert, od.cert); err != nil {
		t.Fatal(err)
	}
	if n := e.issuer.Metrics.Lookups.Load(); n != lookups {
		t.Fatalf("another account's verdict was forgotten too (%d lookups, want %d)", n, lookups)
	}
}

func TestLRU(t *testing.T) {
	var c lru[int, string]
	for i := range 5 {
		c.put(i, fmt.Sprint(i), 3)
	}
	if _, ok := c.get(1); ok || c.len() != 3 {
		t.Fatalf("oldest entries kept (len %d)", c.len())
	}
	c.get(2) // 2 is now the most recently used
	c.put(9, "9", 3)
	if _, ok := c.get(3); ok {
		t.Fatal("3 should have been evicted before 2")
	}
	if v, ok := c.get(2); !ok || v != "2" {
		t.Fatalf("get(2) = %q, %v", v, ok)
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
