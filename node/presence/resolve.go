package presence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/liveness"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// ErrNotFound is returned when the DHT holds no valid record for an account
// or device.
var ErrNotFound = errors.New("not found in the DHT")

// recordCache keeps recently resolved account records, at most max of
// them (0: DefaultMaxCachedAccounts); past that the record fetched longest
// ago makes room (expired records first).
type recordCache struct {
	max      int
	evicted  atomic.Uint64
	mu       sync.Mutex // guards accounts
	accounts map[pcrypto.AccountID]cachedAccount
}

// DefaultMaxCachedAccounts bounds the account-record cache: records come
// only from lookups and from accepted contacts' pushes, so this is room for
// every contact of a large list; at most 64 KiB each, 16 MiB in all.
const DefaultMaxCachedAccounts = 256

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

// put caches rec unless the cache holds a newer record of id, and returns
// the newer of the two: an older record never replaces a newer one.
func (c *recordCache) put(id pcrypto.AccountID, rec *records.Account, now time.Time) *records.Account {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accounts == nil {
		c.accounts = make(map[pcrypto.AccountID]cachedAccount)
	}
	old, ok := c.accounts[id]
	if ok && old.rec.Seq > rec.Seq {
		return old.rec
	}
	if !ok {
		c.makeRoomLocked(now)
	}
	c.accounts[id] = cachedAccount{rec: rec, fetched: now}
	return rec
}

// makeRoomLocked evicts records until one more fits: every expired one if
// that is enough, else the one fetched longest ago.
func (c *recordCache) makeRoomLocked(now time.Time) {
	limit := c.max
	if limit <= 0 {
		limit = DefaultMaxCachedAccounts
	}
	if len(c.accounts) < limit {
		return
	}
	for id, e := range c.accounts {
		if !now.Before(e.rec.Expires) {
			delete(c.accounts, id)
			c.evicted.Add(1)
		}
	}
	for len(c.accounts) >= limit {
		var oldest pcrypto.AccountID
		first := true
		for id, e := range c.accounts {
			if first || e.fetched.Before(c.accounts[oldest].fetched) {
				oldest, first = id, false
			}
		}
		delete(c.accounts, oldest)
		c.evicted.Add(1)
	}
}

// len returns the number of cached records.
func (c *recordCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.accounts)
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
func (svc *Service) GetRecord(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, svc.o.LookupTimeout)
	defer cancel()
	svc.lookups.Add(1)
	vals, err := svc.DHT.SearchValue(ctx, key)
	if err != nil {
		return nil, lookupError(err)
	}
	v := records.Validator(svc.Now)
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
func (svc *Service) ResolveAccount(ctx context.Context, id pcrypto.AccountID) (*records.Account, error) {
	now := svc.Now()
	if rec := svc.cache.get(id, now, svc.o.AccountCacheTTL); rec != nil {
		return rec, nil
	}
	key := records.AccountKey(id)
	val, err := svc.GetRecord(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", id.Short(), err)
	}
	rec, err := records.ParseAccount(key, val, now)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", id.Short(), err)
	}
	rec, err = svc.accept(id, rec, now)
	if err != nil {
		return nil, fmt.Errorf("the DHT's record of %w", err)
	}
	return rec, nil
}

// ResolvePresence returns the verified presence record of a device, its
// Addrs those this device may use (openPresence): every address when it
// holds the account's presence key, the relay addresses otherwise.
func (svc *Service) ResolvePresence(ctx context.Context, account pcrypto.AccountID, d pcrypto.DeviceID) (*records.Presence, error) {
	key := records.PresenceKey(d)
	val, err := svc.GetRecord(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", d.Short(), err)
	}
	p, err := records.ParsePresence(key, val, svc.Now())
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", d.Short(), err)
	}
	if p.Account != account {
		return nil, fmt.Errorf("device %s: presence names another account", d.Short())
	}
	if err := svc.openPresence(p); err != nil {
		return nil, fmt.Errorf("device %s: %w", d.Short(), err)
	}
	return p, nil
}

// DeviceResult is the outcome of reaching one device of an account.
type DeviceResult struct {
	// Cert is the device's certificate from the account record.
	Cert *pcrypto.DeviceCert
	// Presence is its verified presence record (nil if none was found).
	Presence *records.Presence
	// Connected is true when a libp2p connection to it is up (and for
	// this device itself).
	Connected bool
	// Err is why it could not be reached.
	Err error
}

// reachMode is how reachAccount reaches each device.
type reachMode int

const (
	// reachFast: a device whose connection answers a ping needs nothing
	// more; its presence lookup is given up (Presence is then nil).
	reachFast reachMode = iota
	// reachFull: every device's presence record is looked up (Lookup
	// shows the addresses).
	reachFull
	// reachRelayed: see ReachAccountRelayed.
	reachRelayed
)

// ReachAccount resolves an account and connects to each of its devices
// that has a current presence record, concurrently. Our own device is
// skipped. A device we hold a live connection to is not looked up: its
// connection answering a ping (one round trip) is all a call or a message
// needs, while a DHT lookup costs several round trips to the bootstraps.
func (svc *Service) ReachAccount(ctx context.Context, id pcrypto.AccountID) (*records.Account, []DeviceResult, error) {
	return svc.reachAccount(ctx, id, reachFast)
}

// ReachAccountRelayed is ReachAccount for an account that is not a contact
// (yet): a device whose presence record has relay addresses is reached
// through them only, never directly, unless a direct connection is up
// already (then nothing new is learnt on either side); a device that
// publishes none is reachable only directly, and is dialled so.
func (svc *Service) ReachAccountRelayed(ctx context.Context, id pcrypto.AccountID) (*records.Account, []DeviceResult, error) {
	return svc.reachAccount(ctx, id, reachRelayed)
}

// relayAddrs returns the relay addresses among addrs.
func relayAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if IsRelayAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// bootstrapCircuits are circuit addresses through each configured
// bootstrap: a device that publishes no relay address may still hold a
// reservation there (a device on an all-private network, whose relay
// addresses libp2p does not advertise).
func (svc *Service) bootstrapCircuits() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, b := range svc.bootstraps {
		circuit, err := ma.NewMultiaddr("/p2p/" + b.ID.String() + "/p2p-circuit")
		if err != nil {
			continue
		}
		for _, a := range b.Addrs {
			out = append(out, a.Encapsulate(circuit))
		}
	}
	return out
}

// ownCircuits returns, for every configured bootstrap that one of the
// circuit addresses names as its relay, the circuits through it at the
// addresses this device knows it by (from the configuration, never from
// the record).
func (svc *Service) ownCircuits(published []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, b := range svc.bootstraps {
		if !slices.ContainsFunc(published, func(a ma.Multiaddr) bool { return relayOf(a) == b.ID }) {
			continue
		}
		circuit := ma.StringCast("/p2p/" + b.ID.String() + "/p2p-circuit")
		for _, a := range b.Addrs {
			out = append(out, a.Encapsulate(circuit))
		}
	}
	return out
}

// hasDirectConn reports whether a connection to p that is not relayed is
// up.
func (svc *Service) hasDirectConn(p peer.ID) bool {
	for _, c := range svc.Host.Network().ConnsToPeer(p) {
		if !c.Stat().Limited {
			return true
		}
	}
	return false
}

func (svc *Service) reachAccount(ctx context.Context, id pcrypto.AccountID, mode reachMode) (*records.Account, []DeviceResult, error) {
	relayed := mode == reachRelayed
	acct, err := svc.ResolveAccount(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	results := make([]DeviceResult, len(acct.Devices))
	var wg sync.WaitGroup
	for i, dc := range acct.Devices {
		results[i].Cert = dc
		if dc.Device == svc.ID.DeviceCert.Device {
			results[i].Connected = true
			continue
		}
		wg.Add(1)
		go func(r *DeviceResult) {
			defer wg.Done()
			pid := peer.ID(r.Cert.Device)
			// A connection we hold may be dead (the device's daemon was
			// killed and its QUIC connection never closed): it is probed
			// while the presence record is looked up, and redialled at the
			// record's addresses if it does not answer.
			probed := make(chan int, 1)
			if len(svc.Host.Network().ConnsToPeer(pid)) > 0 { // relayed (limited) ones too
				go func() { probed <- liveness.ProbePeer(ctx, svc.Host.Network(), pid) }()
			} else {
				probed <- -1
			}
			type presResult struct {
				p   *records.Presence
				err error
			}
			pctx, pcancel := context.WithCancel(ctx)
			defer pcancel()
			presc := make(chan presResult, 1)
			go func() {
				p, err := svc.ResolvePresence(pctx, id, r.Cert.Device)
				presc <- presResult{p, err}
			}()
			alive := <-probed
			if alive > 0 && mode == reachFast {
				r.Connected = true
				pcancel()
				return
			}
			pr := <-presc
			r.Presence, r.Err = pr.p, pr.err
			if alive == 0 {
				svc.Log.Info("connection to device dead; redialling", "device", r.Cert.Device.Short())
				svc.Host.Network().ClosePeer(pid)
				svc.Host.Peerstore().ClearAddrs(pid)
			}
			if r.Err != nil {
				return
			}
			dctx, cancel := context.WithTimeout(ctx, svc.o.LookupTimeout)
			defer cancel()
			addrs := svc.DropDeadCircuits(pid, r.Presence.Addrs)
			if relayed && !svc.hasDirectConn(pid) {
				// A device that is not a contact is reached only
				// through the circuit relay of our own bootstraps, at
				// the addresses we know them by: a circuit through any
				// other relay, or a bootstrap's ID at an address the
				// record names, would be a direct connection to
				// whoever runs it (a stranger learnt this device's
				// address that way from its lookup, add or decline).
				relays := svc.ownCircuits(relayAddrs(addrs))
				if len(relays) == 0 {
					relays = svc.bootstrapCircuits()
				}
				// Forget any other address of the device (a DHT
				// exchange may have left some), so that the dial goes
				// through the relay alone.
				svc.Host.Peerstore().ClearAddrs(pid)
				r.Err = svc.Host.Connect(network.WithAllowLimitedConn(dctx, "stranger"), peer.AddrInfo{ID: pid, Addrs: relays})
				r.Connected = r.Err == nil
				return
			}
			// The addresses are fresh from the DHT: dials that failed
			// before (the device was down, or restarting) are moot, and
			// the swarm's backoff for them must not fail this one.
			if b, ok := svc.Host.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
				b.Backoff().Clear(pid)
			}
			r.Err = svc.Host.Connect(dctx, peer.AddrInfo{ID: pid, Addrs: addrs})
			if r.Err != nil && len(relayAddrs(addrs)) > 0 {
				// A device that restarted after a crash is reached
				// through a relay that may still hold its dead
				// connection until the bootstrap's probe closes it
				// (liveness.Timeout): one more try after that.
				select {
				case <-dctx.Done():
				case <-time.After(liveness.Timeout):
					if b, ok := svc.Host.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
						b.Backoff().Clear(pid)
					}
					r.Err = svc.Host.Connect(dctx, peer.AddrInfo{ID: pid, Addrs: svc.DropDeadCircuits(pid, addrs)})
				}
			}
			r.Connected = r.Err == nil
		}(&results[i])
	}
	wg.Wait()
	return acct, results, nil
}

// Lookup resolves an account ID to its devices and connects to those online.
func (svc *Service) Lookup(ctx context.Context, id pcrypto.AccountID) (*apitype.Lookup, error) {
	start := time.Now()
	// Looking a stranger up does not dial it directly: as for a contact
	// request, its devices are reached through their relay addresses
	// when they publish some (a direct connection made here would
	// carry the request later, which the device refuses).
	mode := reachFull
	if id != svc.ID.AccountCert.ID {
		if c, err := svc.Store.Contact(id); err != nil || c.State != store.Accepted {
			mode = reachRelayed
		}
	}
	acct, results, err := svc.reachAccount(ctx, id, mode)
	if err != nil {
		return nil, err
	}
	out := &apitype.Lookup{AccountID: id.String(), Seq: acct.Seq}
	for _, r := range results {
		d := apitype.LookupDevice{DeviceID: r.Cert.Device.String(), Name: r.Cert.Name, Connected: r.Connected}
		if r.Presence != nil {
			d.Online = true
			for _, a := range r.Presence.Addrs {
				d.Addrs = append(d.Addrs, a.String())
			}
		}
		if r.Cert.Device == svc.ID.DeviceCert.Device {
			d.Online, d.Path = true, "self"
		} else if r.Connected {
			d.Path = svc.PathTo(peer.ID(r.Cert.Device))
		}
		if r.Err != nil {
			d.Error = r.Err.Error()
		}
		out.Devices = append(out.Devices, d)
	}
	sort.Slice(out.Devices, func(i, j int) bool { return out.Devices[i].DeviceID < out.Devices[j].DeviceID })
	out.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return out, nil
}

// pathTo says how we are connected to p: "direct" if any connection is not
// through a relay, else "relay"; "" when not connected.
func (svc *Service) PathTo(p peer.ID) string {
	path := ""
	for _, c := range svc.Host.Network().ConnsToPeer(p) {
		if !c.Stat().Limited {
			return "direct"
		}
		path = "relay"
	}
	return path
}

// Connected reports whether we hold any connection to p.
func (svc *Service) Connected(p peer.ID) bool {
	return svc.Host.Network().Connectedness(p) == network.Connected
}

// CachedAccount returns the cached account record of id if it was fetched
// less than ttl ago and has not expired, else nil.
func (svc *Service) CachedAccount(id pcrypto.AccountID, now time.Time, ttl time.Duration) *records.Account {
	return svc.cache.get(id, now, ttl)
}

// UpdateAccount takes a verified account record that arrived another way
// than a lookup (a contact pushed it), as a lookup's record is taken: it is
// refused (an error wrapping store.ErrRollback) when older than the
// account's pin, and an older record never replaces a newer one in the
// cache.
func (svc *Service) UpdateAccount(id pcrypto.AccountID, rec *records.Account, now time.Time) error {
	_, err := svc.accept(id, rec, now)
	return err
}

// accept takes a verified account record of id. A record older than the
// account's durable pin (its sequence, its CRL number, or a CRL that no
// longer revokes a device revoked before) is refused with an error wrapping
// store.ErrRollback; otherwise the pin is raised (our own account is always
// pinned, others once Pin was called for them) and the record cached. It
// returns the record to use: the newer of rec and the one cached.
func (svc *Service) accept(id pcrypto.AccountID, rec *records.Account, now time.Time) (*records.Account, error) {
	if err := svc.Store.Pins().Raise(id, pinOf(rec.Seq, rec.CRL), svc.pinned(id)); err != nil {
		return nil, err
	}
	if id == svc.ID.AccountCert.ID && len(rec.Raw) > 0 {
		// Keep the newest admin-signed record of our own account: a
		// member republishes it, and it says which devices are admins.
		if _, err := svc.Store.PutOwnRecord(rec.Raw, rec.Seq); err != nil {
			return nil, err
		}
	}
	return svc.cache.put(id, rec, now), nil
}

// pinned reports whether records of id get a durable pin: our own account
// and every account in the contact list that is not just a stranger's
// pending request (those are bounded by the user's own actions; a
// stranger's record is only ever cached, and only as checked against a pin
// the account may already have).
func (svc *Service) pinned(id pcrypto.AccountID) bool {
	if id == svc.ID.AccountCert.ID {
		return true
	}
	c, err := svc.Store.Contact(id)
	return err == nil && c.State != store.RequestReceived
}

// CacheStats returns how many account records are cached and how many were
// evicted to stay within Options.MaxCachedAccounts.
func (svc *Service) CacheStats() (cached int, evicted uint64) {
	return svc.cache.len(), svc.cache.evicted.Load()
}

// Lookups counts the DHT record lookups made so far.
func (svc *Service) Lookups() uint64 { return svc.lookups.Load() }

// PinRevokes reports whether the durable pin of acct lists serial as
// revoked: the newest CRL of the account this node took, kept across
// restarts. False when the account has no pin.
func (svc *Service) PinRevokes(acct pcrypto.AccountID, serial *big.Int) bool {
	pin, ok, err := svc.Store.Pins().Get(acct)
	if err != nil || !ok {
		return false
	}
	s := serialBytes(serial)
	for _, r := range pin.Revoked {
		if bytes.Equal(r, s) {
			return true
		}
	}
	return false
}

// serialBytes is a serial number as pins keep it.
func serialBytes(serial *big.Int) []byte {
	if s := serial.Bytes(); len(s) > 0 {
		return s
	}
	return []byte{0}
}

// pinOf returns the pin of a record with sequence seq and CRL crl (nil for
// none).
func pinOf(seq uint64, crl *pcrypto.CRL) store.AccountPin {
	p := store.AccountPin{Seq: seq}
	if crl == nil {
		return p
	}
	p.CRLNumber = crl.Number.Uint64()
	for _, e := range crl.List.RevokedCertificateEntries {
		p.Revoked = append(p.Revoked, serialBytes(e.SerialNumber))
	}
	return p
}
