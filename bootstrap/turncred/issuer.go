package turncred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	credproto "github.com/parleyhq/parley/internal/turncred"
	"golang.org/x/time/rate"
)

// Defaults of Issuer fields.
const (
	// DefaultTTL is the lifetime of issued credentials. TURN servers refuse
	// an expired credential even for an allocation that exists, so it must
	// cover a call's setup; nodes ask again before it runs out.
	DefaultTTL = 10 * time.Minute
	// DefaultRatePerMinute is the number of requests a device may make per
	// minute (also the burst).
	DefaultRatePerMinute = 10
	// DefaultCheckTTL is how long the issuer trusts an account record's
	// word that a device is not revoked before it fetches the record
	// again. A revoked device can get credentials for at most this long
	// after its CRL reached the DHT, and use them for DefaultTTL more.
	DefaultCheckTTL = 5 * time.Minute
	// NegativeCheckTTL is how long a refusal (no account record, device
	// revoked) is remembered: short, so a device whose record was not yet
	// published, or was just republished, is not refused for long.
	NegativeCheckTTL = 30 * time.Second
	// RequestTimeout bounds how long the server waits for a request and
	// for its answer to be written.
	RequestTimeout = 10 * time.Second
	// LookupTimeout bounds one account record lookup; nodes give up on a
	// credential request after 3 seconds.
	LookupTimeout = 2 * time.Second
	// maxLimiters bounds the per-device rate limiters kept in memory; the
	// least recently used is forgotten to make room.
	maxLimiters = 4096
	// maxChecks bounds the remembered account record checks; the least
	// recently used is forgotten to make room.
	maxChecks = 8192
	// maxLookups bounds the account record lookups in flight; a request
	// that would need one more is refused as rate limited.
	maxLookups = 16
)

// ErrNoAccountRecord is what an Issuer's Accounts function returns when
// the DHT has no account record for the account.
var ErrNoAccountRecord = errors.New("no account record in the DHT")

// Issuer serves the TURN credential protocol on a libp2p host. Fill in the
// exported fields, then call Register; the fields must not change after.
// An Issuer must not be copied after first use.
type Issuer struct {
	// Secret is the TURN REST shared secret, the same as the TURN servers'.
	// Required, at least turnsrv.MinSecretLen bytes. Never logged.
	Secret []byte
	// TTL is the lifetime of issued credentials. Defaults to DefaultTTL.
	TTL time.Duration
	// URLs are the STUN/TURN URLs handed out with the credentials.
	URLs []string
	// RatePerMinute is how many requests one device may make per minute,
	// also the burst size. Defaults to DefaultRatePerMinute.
	RatePerMinute int
	// Accounts fetches and validates an account's record (with its CRL)
	// from the DHT, returning an error wrapping ErrNoAccountRecord when
	// there is none. Required: credentials go only to devices the record
	// shows unrevoked.
	Accounts func(ctx context.Context, id crypto.AccountID) (*records.Account, error)
	// CheckTTL is how long a successful check of the account record is
	// trusted. Defaults to DefaultCheckTTL.
	CheckTTL time.Duration
	// Now is the clock for certificate validity, expiry and rate limits.
	// Defaults to time.Now.
	Now func() time.Time
	// Logger receives one line per refused request. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Metrics, if not nil, counts issued and refused requests.
	Metrics *Metrics
	// Tokens maps the opaque tokens of issued usernames to their devices;
	// share it with the built-in TURN server (turnsrv.Config.Tokens) so
	// that it counts allocations per device and refuses a revoked
	// device's credentials. Nil: the Issuer keeps its own table, which
	// only it sees (a deployment using coturn).
	Tokens *turnsrv.Tokens

	initOnce sync.Once
	lookups  chan struct{} // semaphore of maxLookups

	mu       sync.Mutex // guards limiters and checks
	limiters lru[peer.ID, *rate.Limiter]
	checks   lru[crypto.DeviceID, check]
}

// check is a remembered verdict of an account record on a device.
type check struct {
	account crypto.AccountID
	err     error // nil: not revoked
	expires time.Time
}

// Metrics counts what an Issuer does; the fields are monotonic counters
// safe to read at any time.
type Metrics struct {
	// Issued counts credentials handed out.
	Issued atomic.Uint64
	// Refused counts requests answered with an error code.
	Refused atomic.Uint64
	// Lookups counts account record lookups (checks not answered from
	// the cache).
	Lookups atomic.Uint64
}

// Check reports whether the Issuer is usable: a secret long enough for
// turnsrv, positive limits and an account lookup.
func (is *Issuer) Check() error {
	switch {
	case len(is.Secret) < turnsrv.MinSecretLen:
		return fmt.Errorf("turncred: %w: secret shorter than %d bytes", credproto.ErrServer, turnsrv.MinSecretLen)
	case is.TTL < 0 || is.RatePerMinute < 0 || is.CheckTTL < 0:
		return fmt.Errorf("turncred: %w: negative TTL or rate", credproto.ErrServer)
	case is.Accounts == nil:
		return fmt.Errorf("turncred: %w: no account record lookup", credproto.ErrServer)
	}
	return nil
}

// Register installs the protocol handler on h.
func (is *Issuer) Register(h host.Host) {
	is.init()
	h.SetStreamHandler(credproto.ID, is.handle)
}

func (is *Issuer) init() {
	is.initOnce.Do(func() {
		is.lookups = make(chan struct{}, maxLookups)
		if is.Tokens == nil {
			is.Tokens = turnsrv.NewTokens(0)
		}
	})
}

func (is *Issuer) now() time.Time {
	if is.Now != nil {
		return is.Now()
	}
	return time.Now()
}

func (is *Issuer) logger() *slog.Logger {
	if is.Logger != nil {
		return is.Logger
	}
	return slog.Default()
}

// handle serves one request stream.
func (is *Issuer) handle(s network.Stream) {
	_ = s.SetDeadline(time.Now().Add(RequestTimeout))
	remote := s.Conn().RemotePeer()
	data, err := io.ReadAll(io.LimitReader(s, credproto.MaxRequestSize+1))
	if err != nil {
		is.logger().Debug("turn-cred: read request", "peer", remote, "err", err)
		_ = s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), RequestTimeout)
	defer cancel()
	var resp credproto.ResponseMsg
	creds, err := is.issue(ctx, remote, data)
	if err != nil {
		is.count(false)
		level := slog.LevelInfo
		if errors.Is(err, credproto.ErrRateLimited) || errors.Is(err, credproto.ErrBadRequest) {
			level = slog.LevelDebug // a flood must not flood the log too
		}
		is.logger().Log(ctx, level, "turn-cred: refused", "peer", remote, "err", err)
		resp = credproto.ResponseMsg{Code: credproto.ErrorCode(err), Message: truncate(err.Error(), credproto.MaxMessageLen)}
	} else {
		is.count(true)
		is.logger().Debug("turn-cred: issued", "peer", remote, "creds", *creds)
		resp = credproto.ResponseMsg{Code: credproto.CodeOK, Creds: creds}
	}
	if _, err := s.Write(credproto.EncodeResponse(resp)); err != nil {
		is.logger().Debug("turn-cred: write response", "peer", remote, "err", err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

func (is *Issuer) count(ok bool) {
	switch {
	case is.Metrics == nil:
	case ok:
		is.Metrics.Issued.Add(1)
	default:
		is.Metrics.Refused.Add(1)
	}
}

// issue checks a request from remote and makes its credentials. The
// request is validated before any per-device state is made or looked at:
// garbage costs a parse, never a rate limiter slot. Then the device's rate
// limit, then the account record (cached), then the credentials.
func (is *Issuer) issue(ctx context.Context, remote peer.ID, data []byte) (*credproto.Credentials, error) {
	now := is.now()
	if err := is.Check(); err != nil {
		return nil, err
	}
	ac, dc, err := validate(remote, data, now)
	if err != nil {
		return nil, err
	}
	if !is.allow(remote, now) {
		return nil, fmt.Errorf("%w: try again later", credproto.ErrRateLimited)
	}
	if err := is.checkRecord(ctx, ac.ID, dc, now); err != nil {
		return nil, err
	}
	ttl := is.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	// The username carries a random token, never the device ID: STUN
	// sends it in clear. The table says whose it is.
	is.init()
	token := is.Tokens.Issue(dc.Device.String(), time.Unix(now.Add(ttl).Unix(), 0), now)
	user, pass := turnsrv.Credentials(is.Secret, token, ttl, now)
	exp, _, err := credproto.ParseUsername(user)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credproto.ErrServer, err)
	}
	return &credproto.Credentials{Username: user, Password: pass, Expires: exp, URLs: append([]string(nil), is.URLs...)}, nil
}

// validate parses a request and checks that its device certificate is the
// remote peer's and chains to the account certificate at now.
func validate(remote peer.ID, data []byte, now time.Time) (*crypto.AccountCert, *crypto.DeviceCert, error) {
	req, err := credproto.DecodeRequest(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", credproto.ErrBadRequest, err)
	}
	ac, err := crypto.ParseAccountCert(req.AccountCert)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", credproto.ErrBadRequest, err)
	}
	dc, err := crypto.ParseDeviceCert(req.DeviceCert)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", credproto.ErrBadRequest, err)
	}
	if peer.ID(dc.Device) != remote {
		return nil, nil, fmt.Errorf("%w: certificate of device %s", credproto.ErrWrongDevice, dc.Device.Short())
	}
	if err := crypto.VerifyDevice(ac.ID, ac, dc, nil, now); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", credproto.ErrUnauthorized, err)
	}
	return ac, dc, nil
}

// checkRecord checks the device against its account's record in the DHT:
// the record must exist and its CRL must not revoke the device. Verdicts
// are remembered (CheckTTL, or NegativeCheckTTL for refusals); a failed
// lookup is not.
func (is *Issuer) checkRecord(ctx context.Context, id crypto.AccountID, dc *crypto.DeviceCert, now time.Time) error {
	is.mu.Lock()
	c, ok := is.checks.get(dc.Device)
	is.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.err
	}
	is.init()
	select {
	case is.lookups <- struct{}{}:
		defer func() { <-is.lookups }()
	default:
		return fmt.Errorf("%w: busy, try again later", credproto.ErrRateLimited)
	}
	if is.Metrics != nil {
		is.Metrics.Lookups.Add(1)
	}
	lctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	rec, err := is.Accounts(lctx, id)
	switch {
	case errors.Is(err, ErrNoAccountRecord):
		c = check{account: id, err: fmt.Errorf("%w: %w", credproto.ErrUnauthorized, err), expires: now.Add(NegativeCheckTTL)}
	case err != nil:
		return fmt.Errorf("%w: account record lookup: %w", credproto.ErrServer, err)
	default:
		c = check{account: id, expires: now.Add(is.checkTTL())}
		if err := crypto.VerifyDevice(id, rec.Cert, dc, rec.CRL, now); err != nil {
			c = check{account: id, err: fmt.Errorf("%w: account record: %w", credproto.ErrUnauthorized, err), expires: now.Add(NegativeCheckTTL)}
			// Credentials already issued to it stop working on the
			// built-in TURN server too.
			is.Tokens.Revoke(dc.Device.String())
		}
	}
	is.mu.Lock()
	is.checks.put(dc.Device, c, maxChecks)
	is.mu.Unlock()
	return c.err
}

// AccountChanged forgets what the issuer remembered of account id's record:
// a newer record has arrived (a bootstrap calls it when its DHT store takes
// one), and it may revoke a device the issuer found unrevoked before; the
// next request of each of its devices looks the record up again.
func (is *Issuer) AccountChanged(id crypto.AccountID) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.checks.deleteFunc(func(_ crypto.DeviceID, c check) bool { return c.account == id })
}

func (is *Issuer) checkTTL() time.Duration {
	if is.CheckTTL > 0 {
		return is.CheckTTL
	}
	return DefaultCheckTTL
}

// allow takes a token from remote's bucket, making one (and forgetting
// the least recently used device's when the table is full) for a
// newcomer: a full table never turns a device away.
func (is *Issuer) allow(remote peer.ID, now time.Time) bool {
	perMin := is.RatePerMinute
	if perMin <= 0 {
		perMin = DefaultRatePerMinute
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	lim, ok := is.limiters.get(remote)
	if !ok {
		lim = rate.NewLimiter(rate.Limit(float64(perMin)/60), perMin)
		is.limiters.put(remote, lim, maxLimiters)
	}
	return lim.AllowN(now, 1)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
