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
	// RequestTimeout bounds how long the server waits for a request and
	// for its answer to be written.
	RequestTimeout = 10 * time.Second
	// maxLimiters bounds the per-device rate limiters kept in memory.
	maxLimiters = 4096
)

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
	// Now is the clock for certificate validity, expiry and rate limits.
	// Defaults to time.Now.
	Now func() time.Time
	// Logger receives one line per refused request. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Metrics, if not nil, counts issued and refused requests.
	Metrics *Metrics

	mu       sync.Mutex // guards limiters
	limiters map[peer.ID]*rate.Limiter
}

// Metrics counts what an Issuer does; the fields are monotonic counters
// safe to read at any time.
type Metrics struct {
	// Issued counts credentials handed out.
	Issued atomic.Uint64
	// Refused counts requests answered with an error code.
	Refused atomic.Uint64
}

// Check reports whether the Issuer is usable: a secret long enough for
// turnsrv and positive limits.
func (is *Issuer) Check() error {
	switch {
	case len(is.Secret) < turnsrv.MinSecretLen:
		return fmt.Errorf("turncred: %w: secret shorter than %d bytes", credproto.ErrServer, turnsrv.MinSecretLen)
	case is.TTL < 0 || is.RatePerMinute < 0:
		return fmt.Errorf("turncred: %w: negative TTL or rate", credproto.ErrServer)
	}
	return nil
}

// Register installs the protocol handler on h.
func (is *Issuer) Register(h host.Host) {
	h.SetStreamHandler(credproto.ID, is.handle)
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
	var resp credproto.ResponseMsg
	creds, err := is.issue(remote, data)
	if err != nil {
		is.count(false)
		level := slog.LevelInfo
		if errors.Is(err, credproto.ErrRateLimited) {
			level = slog.LevelDebug // a flood must not flood the log too
		}
		is.logger().Log(context.Background(), level, "turn-cred: refused", "peer", remote, "err", err)
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

// issue checks a request from remote and makes its credentials.
func (is *Issuer) issue(remote peer.ID, data []byte) (*credproto.Credentials, error) {
	now := is.now()
	if !is.allow(remote, now) {
		return nil, fmt.Errorf("%w: try again later", credproto.ErrRateLimited)
	}
	if err := is.Check(); err != nil {
		return nil, err
	}
	req, err := credproto.DecodeRequest(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credproto.ErrBadRequest, err)
	}
	ac, err := crypto.ParseAccountCert(req.AccountCert)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credproto.ErrBadRequest, err)
	}
	dc, err := crypto.ParseDeviceCert(req.DeviceCert)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credproto.ErrBadRequest, err)
	}
	if peer.ID(dc.Device) != remote {
		return nil, fmt.Errorf("%w: certificate of device %s", credproto.ErrWrongDevice, dc.Device.Short())
	}
	if err := crypto.VerifyDevice(ac.ID, ac, dc, nil, now); err != nil {
		return nil, fmt.Errorf("%w: %w", credproto.ErrUnauthorized, err)
	}
	ttl := is.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	user, pass := turnsrv.Credentials(is.Secret, dc.Device.String(), ttl, now)
	exp, _, err := credproto.ParseUsername(user)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credproto.ErrServer, err)
	}
	return &credproto.Credentials{Username: user, Password: pass, Expires: exp, URLs: append([]string(nil), is.URLs...)}, nil
}

// allow takes a token from remote's bucket.
func (is *Issuer) allow(remote peer.ID, now time.Time) bool {
	perMin := is.RatePerMinute
	if perMin <= 0 {
		perMin = DefaultRatePerMinute
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	lim := is.limiters[remote]
	if lim == nil {
		if is.limiters == nil {
			is.limiters = make(map[peer.ID]*rate.Limiter)
		}
		if len(is.limiters) >= maxLimiters {
			is.pruneLocked(now, perMin)
		}
		if len(is.limiters) >= maxLimiters {
			return false // flooded by many peers at once: refuse newcomers
		}
		lim = rate.NewLimiter(rate.Limit(float64(perMin)/60), perMin)
		is.limiters[remote] = lim
	}
	return lim.AllowN(now, 1)
}

// pruneLocked forgets devices whose bucket is full again.
func (is *Issuer) pruneLocked(now time.Time, burst int) {
	for p, lim := range is.limiters {
		if lim.TokensAt(now) >= float64(burst) {
			delete(is.limiters, p)
		}
	}
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
