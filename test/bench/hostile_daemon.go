package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/test/adversary"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/wait"
)

// The daemon floods: a real parleyd (no bootstrap: every message goes to
// the device directly, as a stranger who knows its address sends it) and
// strangers made on the spot. What it keeps and its live heap are read
// from its status through the local socket.

// maxPendingRequests is parleyd's default bound on pending contact
// requests.
const maxPendingRequests = 256

// hostileDaemonFloods are the daemon floods, in order.
func hostileDaemonFloods(bins daemon.Binaries) []flood {
	return []flood{
		{
			name: "contact requests, a new stranger each", attempts: 20_000, parallel: 8,
			bound: fmt.Sprintf("%d pending requests", maxPendingRequests), cap: maxPendingRequests,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return contactFlood(ctx, env, bins, "request")
			},
		},
		{
			name: "update pushes (account records), a new stranger each", attempts: 20_000, parallel: 8,
			bound: "records of contacts only", cap: 0,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return contactFlood(ctx, env, bins, "update")
			},
		},
		{
			name: "call offers, a new stranger every 32", attempts: 20_000, parallel: 8,
			bound: "offers of contacts only", cap: 0,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return offerFlood(ctx, env, bins)
			},
		},
		{
			name: "sync requests of 128 KiB, a new stranger every 32", attempts: 10_000, parallel: 8,
			bound: "64 KiB read from a stranger, 8 streams", cap: 0,
			start: func(ctx context.Context, env *benchEnv) (*floodRun, error) {
				return syncFlood(ctx, env, bins)
			},
		},
	}
}

// daemonTarget is a parleyd under attack.
type daemonTarget struct {
	*hostileTarget
	d       *daemon.Parleyd
	account crypto.AccountID
	info    peer.AddrInfo // TCP only
}

// startHostileDaemon runs a fresh parleyd on loopback and waits until its
// API answers with its addresses.
func startHostileDaemon(ctx context.Context, env *benchEnv, bins daemon.Binaries) (*daemonTarget, error) {
	name := fmt.Sprintf("victim%d", env.victims)
	env.victims++
	d, err := env.newDaemon(ctx, bins, name, "client")
	if err != nil {
		return nil, err
	}
	if err := d.Launch(nil); err != nil {
		return nil, err
	}
	t := &daemonTarget{d: d}
	if t.account, err = crypto.ParseAccountID(d.AccountID); err != nil {
		return nil, err
	}
	dev, err := crypto.ParseDeviceID(d.DeviceID)
	if err != nil {
		return nil, err
	}
	t.info.ID = peer.ID(dev)
	err = wait.For(ctx, daemon.DefaultTimeout, func() error {
		if d.Proc.Exited() {
			return wait.Stop(d.Proc.Failure("exited"))
		}
		s, err := d.Status(ctx)
		if err != nil {
			return err
		}
		for _, a := range s.Addrs {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return wait.Stop(err)
			}
			if _, err := m.ValueForProtocol(ma.P_TCP); err == nil {
				t.info.Addrs = append(t.info.Addrs, m)
			}
		}
		if len(t.info.Addrs) == 0 {
			return errors.New("no TCP address yet")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.hostileTarget = &hostileTarget{name: "parleyd", pid: d.Proc.PID(), heap: func(ctx context.Context) (float64, error) {
		s, err := d.Status(ctx)
		if err != nil {
			return 0, err
		}
		return float64(s.Memory.HeapLiveBytes), nil
	}}
	return t, nil
}

// cachedRecords is the daemon's account-record cache size.
func (t *daemonTarget) cachedRecords(ctx context.Context) (float64, error) {
	s, err := t.d.Status(ctx)
	if err != nil {
		return 0, err
	}
	return float64(s.Cached["account_records"]), nil
}

// contacts counts the daemon's contacts, or only those in state when it
// is not empty.
func (t *daemonTarget) contacts(ctx context.Context, state string) (float64, error) {
	cs, err := t.d.Client().Contacts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if state == "" || c.State == state {
			n++
		}
	}
	return float64(n), nil
}

// stranger is a fresh account's device with a host connected to the
// target.
type stranger struct {
	*adversary.Device
	h host.Host
}

// newStranger makes a stranger and connects it to the target; a failed
// connection is errUnreached.
func (t *daemonTarget) newStranger(ctx context.Context) (*stranger, error) {
	d, err := adversary.NewStranger()
	if err != nil {
		return nil, err
	}
	h, err := d.LightHost()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := adversary.Connect(ctx, h, t.info); err != nil {
		h.Close()
		return nil, fmt.Errorf("%w: %w", errUnreached, err)
	}
	return &stranger{d, h}, nil
}

// strangerPool hands out strangers, a new one every perStranger attempts;
// the one before the previous is closed, as an attacker moving on would.
type strangerPool struct {
	target      *daemonTarget
	perStranger int

	mu  sync.Mutex
	all map[int]*stranger
}

func (p *strangerPool) get(ctx context.Context, i int) (*stranger, error) {
	k := i / p.perStranger
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.all[k]; s != nil {
		return s, nil
	}
	s, err := p.target.newStranger(ctx)
	if err != nil {
		return nil, err
	}
	if p.all == nil {
		p.all = make(map[int]*stranger)
	}
	if old := p.all[k-2]; old != nil {
		old.h.Close()
		delete(p.all, k-2)
	}
	p.all[k] = s
	return s, nil
}

func (p *strangerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.all {
		s.h.Close()
	}
}

// refusedOrOK reports whether err is the target's answer (taken or
// refused) rather than a failed exchange.
func refusedOrOK(err error) bool {
	var r *adversary.Refusal
	return err == nil || errors.As(err, &r)
}

// contactFlood sends one contact message of kind (a request, or an update
// carrying the stranger's account record) per attempt, each from a new
// stranger.
func contactFlood(ctx context.Context, env *benchEnv, bins daemon.Binaries, kind string) (*floodRun, error) {
	t, err := startHostileDaemon(ctx, env, bins)
	if err != nil {
		return nil, err
	}
	run := &floodRun{target: t.hostileTarget, close: func() {}}
	if kind == "request" {
		run.kept = func(ctx context.Context) (float64, error) { return t.contacts(ctx, "request-received") }
	} else {
		run.kept = t.cachedRecords
	}
	run.attempt = func(ctx context.Context, i int) error {
		s, err := t.newStranger(ctx)
		if errors.Is(err, errUnreached) {
			run.unreached.Add(1)
			return nil
		}
		if err != nil {
			return err
		}
		defer s.h.Close()
		var rec []byte
		if kind == "update" {
			if _, rec, err = s.Account.Record([]*adversary.Device{s.Device}, nil); err != nil {
				return err
			}
		}
		msg, err := s.ContactMessage(kind, t.account, "stranger", "", rec)
		if err != nil {
			return err
		}
		if err := adversary.SendContact(ctx, s.h, t.info.ID, msg); !refusedOrOK(err) {
			run.unreached.Add(1)
		}
		return nil
	}
	return run, nil
}

// offerFlood sends one call offer per attempt, from a new stranger every
// 32 attempts; every one must be refused as not a contact.
func offerFlood(ctx context.Context, env *benchEnv, bins daemon.Binaries) (*floodRun, error) {
	t, err := startHostileDaemon(ctx, env, bins)
	if err != nil {
		return nil, err
	}
	pool := &strangerPool{target: t, perStranger: 32}
	run := &floodRun{target: t.hostileTarget, kept: t.cachedRecords, close: pool.close}
	run.attempt = func(ctx context.Context, i int) error {
		s, err := pool.get(ctx, i)
		if errors.Is(err, errUnreached) {
			run.unreached.Add(1)
			return nil
		}
		if err != nil {
			return err
		}
		offer, err := s.Offer(t.account)
		if err != nil {
			return err
		}
		c, err := adversary.SendOffer(ctx, s.h, t.info.ID, offer)
		if err != nil {
			run.unreached.Add(1)
			return nil
		}
		if c.Type != callproto.ControlError || c.Code != callproto.CodeNotContact {
			return fmt.Errorf("a stranger's offer was answered %v code %v (%s)", c.Type, c.Code, c.Reason)
		}
		return nil
	}
	return run, nil
}

// syncRequestSize is the size of each junk sync request: twice what the
// daemon reads from a stranger.
const syncRequestSize = 128 << 10

// syncFlood sends one sync request of syncRequestSize bytes claiming the
// target's account per attempt, from a new stranger every 32 attempts;
// kept is the contacts the target has (its entries would add some).
func syncFlood(ctx context.Context, env *benchEnv, bins daemon.Binaries) (*floodRun, error) {
	t, err := startHostileDaemon(ctx, env, bins)
	if err != nil {
		return nil, err
	}
	pool := &strangerPool{target: t, perStranger: 32}
	run := &floodRun{target: t.hostileTarget, kept: func(ctx context.Context) (float64, error) { return t.contacts(ctx, "") }, close: pool.close}
	var entries []adversary.SyncEntry
	for i := 0; len(entries)*140 < syncRequestSize; i++ {
		entries = append(entries, adversary.SyncEntry{Key: fmt.Sprintf("contact/junk%08d", i), T: time.Now().UnixNano(), Name: "planted", State: "accepted"})
	}
	body, err := json.Marshal(&adversary.SyncRequest{V: 1, Account: t.account.String(), Entries: entries})
	if err != nil {
		return nil, err
	}
	run.attempt = func(ctx context.Context, i int) error {
		s, err := pool.get(ctx, i)
		if errors.Is(err, errUnreached) {
			run.unreached.Add(1)
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := adversary.SendSyncRaw(ctx, s.h, t.info.ID, body)
		switch {
		case errors.Is(err, adversary.ErrNoSyncAnswer): // reset unread: the defence
		case err != nil:
			run.unreached.Add(1)
		case resp.Code == "":
			return errors.New("a stranger's sync request was answered with a state")
		}
		return nil
	}
	return run, nil
}
