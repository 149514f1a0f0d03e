package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// ErrNotFound is returned when the DHT holds no valid record for an account
// or device.
var ErrNotFound = errors.New("not found in the DHT")

// recordCache keeps recently resolved account records.
type recordCache struct {
	mu       sync.Mutex // guards accounts
	accounts map[pcrypto.AccountID]cachedAccount
}

type cachedAccount struct {
	rec     *records.Account
	fetched time.Time
}

func (c *recordCache) get(id pcrypto.AccountID, now time.Time, ttl time.Duration) *records.Account {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.accounts[id]
	if !ok || now.Sub(e.fetched) > ttl || !now.Before(e.rec.Expires) {
		return nil
	}
	return e.rec
}

func (c *recordCache) put(id pcrypto.AccountID, rec *records.Account, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accounts == nil {
		c.accounts = make(map[pcrypto.AccountID]cachedAccount)
	}
	if old, ok := c.accounts[id]; ok && old.rec.Seq > rec.Seq {
		return
	}
	c.accounts[id] = cachedAccount{rec: rec, fetched: now}
}

// recordGrace is how long a lookup keeps listening for a newer record once
// it holds a valid one. A DHT search ends only when every one of the
// closest peers it found has answered or timed out, and a silent peer (a
// paused process, a laptop that lost its network: no FIN, no RST) times out
// only after seconds, so waiting for the search to end is waiting for the
// dead. The holders that are alive answer within a few milliseconds of each
// other on loopback and a LAN; the grace lets a newer record from one of
// them replace a stale one from another (a holder that missed the latest
// put), and costs every lookup that does not end by itself at most this
// much. On long internet paths holders answer further apart and a newer
// record can miss the grace; it is then found by the next lookup.
const recordGrace = 30 * time.Millisecond

// getRecord fetches the best valid record under key. It returns when the
// search ends, recordGrace after the first valid record arrived, or at the
// lookup timeout, whichever comes first; the search is cancelled on return,
// so no query to a silent peer outlives the lookup.
func (n *Node) getRecord(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, n.o.LookupTimeout)
	defer cancel()
	vals, err := n.dht.SearchValue(ctx, key)
	if err != nil {
		return nil, lookupError(err)
	}
	v := records.Validator(n.o.Now)
	val, err := firstBest(ctx, vals, recordGrace, func(vs [][]byte) (int, error) { return v.Select(key, vs) })
	if val != nil {
		return val, nil // best seen, even if the deadline cut the lookup short
	}
	if err == nil {
		return nil, ErrNotFound
	}
	return nil, lookupError(err)
}

// lookupError maps the error of a search that found no record.
func lookupError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ErrNotFound
	case errors.Is(err, context.Canceled):
		return err
	default:
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
}

// firstBest reads the records a DHT search streams on vals and returns the
// best of those valid, as sel (a record.Validator's Select) ranks them. It
// returns when vals is closed, grace after the first valid record, or when
// ctx is done (then with ctx's error, and the best record so far, if any).
// A record arriving within the grace replaces the one held only when sel
// prefers it, so a stale record never wins over a newer one that arrived in
// time, whatever the order. With no valid record it returns nil and a nil
// error when vals is closed.
func firstBest(ctx context.Context, vals <-chan []byte, grace time.Duration, sel func([][]byte) (int, error)) ([]byte, error) {
	var best []byte
	var graceUp <-chan time.Time // nil (blocks) until the first valid record
	for {
		select {
		case v, ok := <-vals:
			if !ok {
				return best, nil
			}
			cands := [][]byte{v}
			if best != nil {
				cands = append(cands, best)
			}
			i, err := sel(cands)
			if err != nil {
				continue // v is invalid and there is nothing else yet
			}
			if best == nil {
				t := time.NewTimer(grace)
				defer t.Stop()
				graceUp = t.C
			}
			best = cands[i]
		case <-graceUp:
			return best, nil
		case <-ctx.Done():
			return best, ctx.Err()
		}
	}
}

// resolveAccount returns the verified account record of id.
func (n *Node) resolveAccount(ctx context.Context, id pcrypto.AccountID) (*records.Account, error) {
	now := n.o.Now()
	if rec := n.cache.get(id, now, n.o.AccountCacheTTL); rec != nil {
		return rec, nil
	}
	key := records.AccountKey(id)
	val, err := n.getRecord(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", id.Short(), err)
	}
	rec, err := records.ParseAccount(key, val, now)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", id.Short(), err)
	}
	n.cache.put(id, rec, now)
	return rec, nil
}

// resolvePresence returns the verified presence record of a device.
func (n *Node) resolvePresence(ctx context.Context, account pcrypto.AccountID, d pcrypto.DeviceID) (*records.Presence, error) {
	key := records.PresenceKey(d)
	val, err := n.getRecord(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", d.Short(), err)
	}
	p, err := records.ParsePresence(key, val, n.o.Now())
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", d.Short(), err)
	}
	if p.Account != account {
		return nil, fmt.Errorf("device %s: presence names another account", d.Short())
	}
	return p, nil
}

// deviceResult is the outcome of reaching one device of an account.
type deviceResult struct {
	cert      *pcrypto.DeviceCert
	presence  *records.Presence
	connected bool
	err       error
}

// reachAccount resolves an account and connects to each of its devices that
// has a current presence record, concurrently. Our own device is skipped.
func (n *Node) reachAccount(ctx context.Context, id pcrypto.AccountID) (*records.Account, []deviceResult, error) {
	acct, err := n.resolveAccount(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	results := make([]deviceResult, len(acct.Devices))
	var wg sync.WaitGroup
	for i, dc := range acct.Devices {
		results[i].cert = dc
		if dc.Device == n.id.DeviceCert.Device {
			results[i].connected = true
			continue
		}
		wg.Add(1)
		go func(r *deviceResult) {
			defer wg.Done()
			r.presence, r.err = n.resolvePresence(ctx, id, r.cert.Device)
			if r.err != nil {
				return
			}
			pid := peer.ID(r.cert.Device)
			dctx, cancel := context.WithTimeout(ctx, n.o.LookupTimeout)
			defer cancel()
			r.err = n.h.Connect(dctx, peer.AddrInfo{ID: pid, Addrs: r.presence.Addrs})
			r.connected = r.err == nil
		}(&results[i])
	}
	wg.Wait()
	return acct, results, nil
}

// Lookup resolves an account ID to its devices and connects to those online.
func (n *Node) Lookup(ctx context.Context, account string) (*apitype.Lookup, error) {
	id, err := pcrypto.ParseAccountID(account)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	start := time.Now()
	acct, results, err := n.reachAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &apitype.Lookup{AccountID: id.String(), Seq: acct.Seq}
	for _, r := range results {
		d := apitype.LookupDevice{DeviceID: r.cert.Device.String(), Name: r.cert.Name, Connected: r.connected}
		if r.presence != nil {
			d.Online = true
			for _, a := range r.presence.Addrs {
				d.Addrs = append(d.Addrs, a.String())
			}
		}
		if r.cert.Device == n.id.DeviceCert.Device {
			d.Online, d.Path = true, "self"
		} else if r.connected {
			d.Path = n.pathTo(peer.ID(r.cert.Device))
		}
		if r.err != nil {
			d.Error = r.err.Error()
		}
		out.Devices = append(out.Devices, d)
	}
	sort.Slice(out.Devices, func(i, j int) bool { return out.Devices[i].DeviceID < out.Devices[j].DeviceID })
	out.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return out, nil
}

// pathTo says how we are connected to p: "direct" if any connection is not
// through a relay, else "relay"; "" when not connected.
func (n *Node) pathTo(p peer.ID) string {
	path := ""
	for _, c := range n.h.Network().ConnsToPeer(p) {
		if !c.Stat().Limited {
			return "direct"
		}
		path = "relay"
	}
	return path
}

// connected reports whether we hold any connection to p.
func (n *Node) connected(p peer.ID) bool {
	return n.h.Network().Connectedness(p) == network.Connected
}
