package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parleyhq/parley/bootstrap/turnsrv"
	credproto "github.com/parleyhq/parley/internal/turncred"
	"github.com/parleyhq/parley/test/adversary"
	"github.com/parleyhq/parley/test/daemon"
)

// The bench lowers a few totals of the bootstrap under attack (flags
// below) so that a flood reaches them in a short run; the code that
// enforces them is the same at any value, and the per-peer, per-address and
// per-device caps are the defaults.
const (
	benchDHTMaxRecords = 4096
	benchDHTMaxBytes   = 16 << 20
	benchTURNTotal     = 1024
)

// hostileFloods are the floods of the hostile part, in order.
func hostileFloods(bootstrapBin string) []flood {
	return []flood{
		{
			name: "DHT records of 6.6 KB, one peer", attempts: 20_000, parallel: 4,
			bound: "32 records per peer", cap: 32,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return dhtFlood(ctx, env, bootstrapBin, 1, 32)
			},
		},
		{
			name: "DHT records of 300 B, a new peer every 32, from 64 addresses", attempts: 20_000, parallel: 4,
			bound: fmt.Sprintf("%d records in total (bench flag)", benchDHTMaxRecords), cap: benchDHTMaxRecords,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return dhtFlood(ctx, env, bootstrapBin, 64, 1, "--dht-max-records", strconv.Itoa(benchDHTMaxRecords),
					"--dht-max-bytes", strconv.Itoa(benchDHTMaxBytes))
			},
		},
		{
			name: "TURN allocations, one credential", attempts: 10_000, parallel: 4,
			bound: fmt.Sprintf("%d per device", turnsrv.DefaultUserQuota), cap: turnsrv.DefaultUserQuota,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return turnFlood(ctx, env, bootstrapBin, false)
			},
		},
		{
			name: "TURN allocations, a new device every 32, from 64 addresses", attempts: 10_000, parallel: 4,
			bound: fmt.Sprintf("%d in total (bench flag)", benchTURNTotal), cap: benchTURNTotal,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return turnFlood(ctx, env, bootstrapBin, true, "--turn-total-quota", strconv.Itoa(benchTURNTotal))
			},
		},
		{
			// libp2p keeps what it learnt of a peer (keys, addresses,
			// protocols) for a minute after it disconnects: the flood
			// runs long enough for that to level off.
			name: "credential requests of junk, a new peer each", attempts: 30_000, parallel: 16,
			bound: "nothing kept", cap: 0,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return credFlood(ctx, env, bootstrapBin, false)
			},
		},
		{
			name: "credential requests of valid new devices, each publishing its account record first", attempts: 20_000, parallel: 8,
			bound: fmt.Sprintf("%d records in total (bench flag); 4096 rate limiters, 8192 checks", benchDHTMaxRecords), cap: benchDHTMaxRecords,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return credFlood(ctx, env, bootstrapBin, true, "--dht-max-records", strconv.Itoa(benchDHTMaxRecords),
					"--dht-max-bytes", strconv.Itoa(benchDHTMaxBytes))
			},
		},
	}
}

// bootTarget is a parley-bootstrap under attack.
type bootTarget struct {
	*hostileTarget
	info     peer.AddrInfo // TCP only
	metrics  string
	secret   []byte
	turnAddr string
}

// startHostileBootstrap runs a fresh parley-bootstrap on loopback with its
// metrics, TURN on a free port, a known secret and extra flags.
func startHostileBootstrap(ctx context.Context, env *benchEnv, bin string, extra ...string) (*bootTarget, error) {
	name := fmt.Sprintf("bootstrap%d", env.bootstraps)
	env.bootstraps++
	secret, err := randomSecret()
	if err != nil {
		return nil, err
	}
	secretFile := env.path(name + ".secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		return nil, err
	}
	port, err := freeTURNPort()
	if err != nil {
		return nil, err
	}
	turnAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	b, err := daemon.StartBootstrap(ctx, daemon.BootstrapConfig{
		Bin: bin, Procs: env.procs, Name: name, Dir: env.path(name), Timeout: bootstrapStart,
		Args: slices.Concat([]string{"--listen", "/ip4/127.0.0.1/tcp/0", "--metrics-addr", "127.0.0.1:0",
			"--turn-listen", turnAddr, "--turn-secret-file", secretFile, "--log-level", "warn"}, extra),
	})
	if err != nil {
		return nil, err
	}
	t := &bootTarget{secret: []byte(secret), turnAddr: turnAddr}
	if t.metrics, err = adversary.MetricsAddr(b.Proc.Output()); err != nil {
		return nil, err
	}
	for _, a := range b.Addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, err
		}
		t.info.ID = ai.ID
		t.info.Addrs = append(t.info.Addrs, ai.Addrs...)
	}
	t.info = adversary.TCPOnly(t.info)
	t.hostileTarget = &hostileTarget{name: "parley-bootstrap", pid: b.Proc.PID(), heap: func(ctx context.Context) (float64, error) {
		v, err := t.metric(ctx, "go_gc_heap_live_bytes")
		if err == nil && b.Proc.Exited() {
			err = errTargetDown
		}
		return v, err
	}}
	return t, nil
}

// metric reads one metric (summed over its labels) from the target.
func (t *bootTarget) metric(ctx context.Context, name string) (float64, error) {
	m, err := adversary.Scrape(ctx, t.metrics)
	if err != nil {
		return 0, err
	}
	return m.Sum(name), nil
}

// loopbackIP is the i-th of n loopback addresses 127.0.X.Y used as the
// attacker's sources (on Linux all of 127.0.0.0/8 is loopback), outside
// 127.0.0.0/24 where the target listens.
func loopbackIP(i, n int) string {
	j := i % n
	return fmt.Sprintf("127.0.%d.%d", 10+j/200, 10+j%200)
}

// hostPool hands out attacker hosts: a new one every perHost attempts,
// listening (and so dialling) on one of n addresses in turn.
type hostPool struct {
	target  *bootTarget
	perHost int
	addrs   int

	mu    sync.Mutex
	hosts map[int]host.Host
}

func (p *hostPool) get(ctx context.Context, i int) (host.Host, error) {
	k := i / p.perHost
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[k]; h != nil {
		return h, nil
	}
	h, err := adversary.NewHost(nil, loopbackIP(k, p.addrs))
	if err != nil {
		return nil, err
	}
	if err := adversary.Connect(ctx, h, p.target.info); err != nil {
		h.Close()
		return nil, fmt.Errorf("%w: %w", errUnreached, err)
	}
	if p.hosts == nil {
		p.hosts = make(map[int]host.Host)
	}
	// The host before the previous one is done (fewer attempts run at
	// once than one host makes): close it, as an attacker moving on would.
	if old := p.hosts[k-2]; old != nil {
		old.Close()
		delete(p.hosts, k-2)
	}
	p.hosts[k] = h
	return h, nil
}

func (p *hostPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.hosts {
		h.Close()
	}
}

// dhtFlood sends one junk presence record (with addrs addresses) per
// attempt, from a new peer every 32 attempts when addresses > 1 (else from
// one peer), over that many source addresses.
func dhtFlood(ctx context.Context, env *benchEnv, bin string, addresses, addrs int, extra ...string) (*floodRun, error) {
	t, err := startHostileBootstrap(ctx, env, bin, extra...)
	if err != nil {
		return nil, err
	}
	per := 32
	if addresses == 1 {
		per = math.MaxInt // one peer for the whole flood
	}
	pool := &hostPool{target: t, perHost: per, addrs: addresses}
	run := &floodRun{
		target: t.hostileTarget,
		kept:   func(ctx context.Context) (float64, error) { return t.metric(ctx, "parley_bootstrap_dht_records") },
		close:  pool.close,
	}
	run.attempt = func(ctx context.Context, i int) error {
		h, err := pool.get(ctx, i)
		if errors.Is(err, errUnreached) {
			run.unreached.Add(1)
			return nil
		}
		if err != nil {
			return err
		}
		k, v, err := adversary.JunkPresence(addrs)
		if err != nil {
			return err
		}
		// A refusal (the stream reset) is the target defending itself.
		_ = adversary.PutValue(ctx, h, t.info.ID, k, v)
		return nil
	}
	return run, nil
}

// turnFlood makes one allocation per attempt with credentials the bench
// mints from the secret: all for one device from one address, or a new
// device every 32 attempts over 64 addresses. Allocations granted are
// held until the flood ends.
func turnFlood(ctx context.Context, env *benchEnv, bin string, spread bool, extra ...string) (*floodRun, error) {
	t, err := startHostileBootstrap(ctx, env, bin, extra...)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var held []*adversary.Allocation
	return &floodRun{
		target: t.hostileTarget,
		attempt: func(ctx context.Context, i int) error {
			dev, ip := "bench-device", "127.0.0.1"
			if spread {
				dev, ip = fmt.Sprint("bench-device-", i/32), loopbackIP(i/32, 64)
			}
			user, pass := turnsrv.Credentials(t.secret, dev, time.Hour, time.Now())
			a, err := adversary.Allocate(t.turnAddr, ip, user, pass)
			if err != nil {
				return nil // refused: the quota at work
			}
			mu.Lock()
			held = append(held, a)
			mu.Unlock()
			return nil
		},
		kept: func(ctx context.Context) (float64, error) { return t.metric(ctx, "parley_bootstrap_turn_allocations") },
		close: func() {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range held {
				a.Close()
			}
		},
	}, nil
}

// credFlood sends one credential request per attempt from a new peer:
// junk, or a valid new device whose account record it first stores on the
// target (over 64 source addresses, so that the DHT's per-address cap
// does not evict the record before the request).
func credFlood(ctx context.Context, env *benchEnv, bin string, valid bool, extra ...string) (*floodRun, error) {
	t, err := startHostileBootstrap(ctx, env, bin, extra...)
	if err != nil {
		return nil, err
	}
	// The issuer keeps no count of its own: junk leaves nothing, valid
	// devices leave their account records.
	run := &floodRun{
		target: t.hostileTarget,
		kept:   func(context.Context) (float64, error) { return 0, nil },
		close:  func() {},
	}
	if valid {
		run.kept = func(ctx context.Context) (float64, error) { return t.metric(ctx, "parley_bootstrap_dht_records") }
	}
	run.attempt = func(ctx context.Context, i int) error {
		var err error
		if valid {
			err = validCredRequest(ctx, t, loopbackIP(i, 64))
		} else {
			err = junkCredRequest(ctx, t)
		}
		if errors.Is(err, errUnreached) {
			run.unreached.Add(1)
			return nil
		}
		return err
	}
	return run, nil
}

// errUnreached means an attempt's connection to the target failed.
var errUnreached = errors.New("target not reached")

// junkCredRequest sends junk as a credential request from a fresh peer.
func junkCredRequest(ctx context.Context, t *bootTarget) error {
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, t.info); err != nil {
		return fmt.Errorf("%w: %w", errUnreached, err)
	}
	_, err = credproto.Request(ctx, h, t.info.ID, []byte("junk"), []byte("junk"))
	switch {
	case errors.Is(err, credproto.ErrBadRequest), errors.Is(err, credproto.ErrRateLimited):
		return nil
	case errors.Is(err, credproto.ErrMalformed), errors.Is(err, credproto.ErrServer), errors.Is(err, credproto.ErrUnauthorized), errors.Is(err, credproto.ErrWrongDevice), err == nil:
		return fmt.Errorf("junk credential request: %v", err)
	default: // the stream failed: reset or timed out under load
		return fmt.Errorf("%w: %w", errUnreached, err)
	}
}

// validCredRequest makes an account and device, stores the account's
// record on the target and asks for credentials.
func validCredRequest(ctx context.Context, t *bootTarget, ip string) error {
	a, err := adversary.NewAccount()
	if err != nil {
		return err
	}
	d, err := a.NewDevice()
	if err != nil {
		return err
	}
	h, err := d.Host(ip)
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := adversary.Connect(ctx, h, t.info); err != nil {
		return fmt.Errorf("%w: %w", errUnreached, err)
	}
	k, v, err := a.Record([]*adversary.Device{d}, nil)
	if err != nil {
		return err
	}
	if err := adversary.PutValue(ctx, h, t.info.ID, k, v); err != nil {
		return fmt.Errorf("%w: %w", errUnreached, err)
	}
	_, err = credproto.Request(ctx, h, t.info.ID, a.Cert.Raw(), d.Cert.Raw())
	switch {
	case err == nil, errors.Is(err, credproto.ErrRateLimited):
		return nil
	case errors.Is(err, credproto.ErrMalformed), errors.Is(err, credproto.ErrBadRequest), errors.Is(err, credproto.ErrUnauthorized), errors.Is(err, credproto.ErrWrongDevice):
		return fmt.Errorf("valid credential request: %w", err)
	default: // the stream failed, or the lookup did (ErrServer) under load
		return fmt.Errorf("%w: %w", errUnreached, err)
	}
}
