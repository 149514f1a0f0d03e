package dhtstore

import (
	"container/heap"
	"container/list"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/crypto"
)

// sweepInterval is how often Put sweeps out records whose expiry passed.
const sweepInterval = time.Minute

// Options configure a Store.
type Options struct {
	// Limits are the caps. Required: every field positive.
	Limits Limits
	// Now is the clock records are parsed and expired against. Defaults
	// to time.Now.
	Now func() time.Time
	// Metrics, if not nil, counts dropped records.
	Metrics *Metrics
	// OnAccount, if set, is called (outside the store's lock) after an
	// account record was stored: whoever caches what the record said (a
	// bootstrap's TURN credential issuer) learns of a new revocation at
	// once instead of when its cache expires.
	OnAccount func(crypto.AccountID)
}

// Store is a bounded in-memory ds.Batching for kad-dht's value records. It
// is safe for concurrent use. Create it with New and hand it to the DHT with
// DHTOptions.
type Store struct {
	lim       Limits
	now       func() time.Time
	metrics   *Metrics
	notes     *notes
	onAccount func(crypto.AccountID)

	mu        sync.Mutex // guards the following fields
	entries   map[ds.Key]*entry
	live      entryHeap // records of accounts with live presence, oldest first
	dead      entryHeap // every other record, oldest first
	peers     map[peer.ID]*bucket
	ips       map[netip.Prefix]*bucket
	accounts  map[crypto.AccountID]*account
	bytes     int64
	seq       uint64
	lastSweep time.Time
}

// entry is one stored record.
type entry struct {
	key   ds.Key
	value []byte
	size  int64
	seq   uint64 // order of Put: lower is older
	from  sender
	meta  meta
	live  bool
	hidx  int           // index in live or dead
	pelem *list.Element // in its peer's bucket
	ielem *list.Element // in its IP's bucket, or nil
}

// bucket is what one sender (peer or IP) has stored, oldest first.
type bucket struct {
	list  list.List // of *entry
	bytes int64
}

// account links an account's record with the presence records that name it.
type account struct {
	record    *entry
	listed    map[crypto.DeviceID]struct{} // devices the record lists
	presences map[crypto.DeviceID]*entry
}

// New returns an empty store.
func New(o Options) (*Store, error) {
	if err := o.Limits.Check(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = new(Metrics)
	}
	return &Store{
		lim:       o.Limits,
		now:       o.Now,
		metrics:   o.Metrics,
		notes:     newNotes(),
		onAccount: o.OnAccount,
		entries:   make(map[ds.Key]*entry),
		peers:     make(map[peer.ID]*bucket),
		ips:       make(map[netip.Prefix]*bucket),
		accounts:  make(map[crypto.AccountID]*account),
	}, nil
}

// DHTOptions returns the kad-dht options that make the DHT store its values
// here and tell the store who sent each PUT_VALUE.
func (s *Store) DHTOptions() []dht.Option {
	return []dht.Option{dht.Datastore(s), dht.OnRequestHook(s.onRequest)}
}

// Usage returns the number of records stored and the bytes they take.
func (s *Store) Usage() (records int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries), s.bytes
}

// Get implements ds.Read.
func (s *Store) Get(_ context.Context, key ds.Key) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[key]
	if e == nil {
		return nil, ds.ErrNotFound
	}
	return e.value, nil
}

// Has implements ds.Read.
func (s *Store) Has(_ context.Context, key ds.Key) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries[key] != nil, nil
}

// GetSize implements ds.Read.
func (s *Store) GetSize(_ context.Context, key ds.Key) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[key]
	if e == nil {
		return -1, ds.ErrNotFound
	}
	return len(e.value), nil
}

// Query implements ds.Read on a snapshot taken when it is called.
func (s *Store) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	s.mu.Lock()
	res := make([]dsq.Entry, 0, len(s.entries))
	for k, e := range s.entries {
		if q.Prefix != "" && !strings.HasPrefix(k.String(), q.Prefix) {
			continue
		}
		qe := dsq.Entry{Key: k.String(), Size: len(e.value)}
		if !q.KeysOnly {
			qe.Value = e.value
		}
		res = append(res, qe)
	}
	s.mu.Unlock()
	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, res)), nil
}

// Put implements ds.Write: it stores the record, then drops what the caps
// require (see the package documentation).
func (s *Store) Put(_ context.Context, key ds.Key, value []byte) error {
	m, err := s.put(key, value)
	if err == nil && m.kind == kindAccount && s.onAccount != nil {
		s.onAccount(m.account)
	}
	return err
}

// put stores the record under the store's lock and returns what it read
// of it.
func (s *Store) put(key ds.Key, value []byte) (meta, error) {
	now := s.now()
	m := inspect(value, now)
	from := s.notes.take(m.recKey, m.vhash, now)
	size := int64(len(key.String()) + len(value))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	old := s.entries[key]
	if old != nil && old.meta.vhash == m.vhash {
		// The same record again stays charged to whoever sent it first:
		// otherwise anyone could take over a record he fetched and push
		// it out with his own per-peer cap.
		from = old.from
	}
	if size > s.lim.MaxBytes || size > s.lim.MaxBytesPerPeer || (from.ip.IsValid() && size > s.lim.MaxBytesPerIP) {
		s.metrics.Refused.Add(1)
		return m, fmt.Errorf("dhtstore: put %s: %w: %d bytes", key, ErrTooLarge, size)
	}
	if old != nil {
		s.removeLocked(old)
	}
	s.seq++
	e := &entry{key: key, value: append([]byte(nil), value...), size: size, seq: s.seq, from: from, meta: m}
	s.insertLocked(e)
	s.enforceLocked(e)
	return m, nil
}

// Delete implements ds.Write.
func (s *Store) Delete(_ context.Context, key ds.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[key]; e != nil {
		s.removeLocked(e)
	}
	return nil
}

// Sync implements ds.Datastore: the store is in memory, nothing to do.
func (s *Store) Sync(context.Context, ds.Key) error { return nil }

// Close implements ds.Datastore. The records stay readable.
func (s *Store) Close() error { return nil }

// Batch implements ds.Batching with a batch that applies its operations
// one by one on Commit.
func (s *Store) Batch(context.Context) (ds.Batch, error) { return ds.NewBasicBatch(s), nil }

// enforceLocked drops records until every cap holds again, never e, which
// was just stored and fits every byte cap on its own.
func (s *Store) enforceLocked(e *entry) {
	pb := s.peers[e.from.peer]
	for pb.list.Len() > s.lim.MaxRecordsPerPeer || pb.bytes > s.lim.MaxBytesPerPeer {
		s.removeLocked(pb.list.Front().Value.(*entry))
		s.metrics.EvictedPeer.Add(1)
	}
	if e.from.ip.IsValid() {
		ib := s.ips[e.from.ip]
		for ib.list.Len() > s.lim.MaxRecordsPerIP || ib.bytes > s.lim.MaxBytesPerIP {
			s.removeLocked(ib.list.Front().Value.(*entry))
			s.metrics.EvictedIP.Add(1)
		}
	}
	for len(s.entries) > s.lim.MaxRecords || s.bytes > s.lim.MaxBytes {
		v := s.victimLocked(e)
		if v == nil {
			return
		}
		s.removeLocked(v)
		s.metrics.EvictedTotal.Add(1)
	}
}

// victimLocked is the record to drop for the totals: the oldest dead one,
// else the oldest live one, but not keep.
func (s *Store) victimLocked(keep *entry) *entry {
	for _, h := range []entryHeap{s.dead, s.live} {
		// keep is the newest record, so it heads a heap only alone.
		if len(h) > 0 && h[0] != keep {
			return h[0]
		}
	}
	return nil
}

// sweepLocked drops records whose expiry passed, at most once per
// sweepInterval.
func (s *Store) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < sweepInterval {
		return
	}
	s.lastSweep = now
	for _, e := range s.entries {
		if !e.meta.expires.IsZero() && !now.Before(e.meta.expires) {
			s.removeLocked(e)
			s.metrics.Expired.Add(1)
		}
	}
}

// insertLocked adds e to the indexes; it starts dead.
func (s *Store) insertLocked(e *entry) {
	s.entries[e.key] = e
	s.bytes += e.size
	heap.Push(&s.dead, e)
	pb := s.peers[e.from.peer]
	if pb == nil {
		pb = new(bucket)
		s.peers[e.from.peer] = pb
	}
	e.pelem = pb.list.PushBack(e)
	pb.bytes += e.size
	if e.from.ip.IsValid() {
		ib := s.ips[e.from.ip]
		if ib == nil {
			ib = new(bucket)
			s.ips[e.from.ip] = ib
		}
		e.ielem = ib.list.PushBack(e)
		ib.bytes += e.size
	}
	var touched []crypto.DeviceID
	switch e.meta.kind {
	case kindAccount:
		a := s.accountLocked(e.meta.account)
		a.record = e
		a.listed = make(map[crypto.DeviceID]struct{}, len(e.meta.listed))
		for _, d := range e.meta.listed {
			a.listed[d] = struct{}{}
		}
		touched = e.meta.listed
	case kindPresence:
		a := s.accountLocked(e.meta.account)
		a.presences[e.meta.device] = e
		touched = []crypto.DeviceID{e.meta.device}
	default:
		return
	}
	s.reliveLocked(e.meta.account, touched)
}

// removeLocked takes e out of every index.
func (s *Store) removeLocked(e *entry) {
	delete(s.entries, e.key)
	s.bytes -= e.size
	if e.live {
		heap.Remove(&s.live, e.hidx)
	} else {
		heap.Remove(&s.dead, e.hidx)
	}
	pb := s.peers[e.from.peer]
	pb.list.Remove(e.pelem)
	pb.bytes -= e.size
	if pb.list.Len() == 0 {
		delete(s.peers, e.from.peer)
	}
	if e.ielem != nil {
		ib := s.ips[e.from.ip]
		ib.list.Remove(e.ielem)
		ib.bytes -= e.size
		if ib.list.Len() == 0 {
			delete(s.ips, e.from.ip)
		}
	}
	if e.meta.kind == kindOther || e.meta.kind == kindBlinded {
		return
	}
	a := s.accounts[e.meta.account]
	if a == nil {
		return
	}
	var touched []crypto.DeviceID
	switch {
	case e.meta.kind == kindAccount && a.record == e:
		a.record, a.listed = nil, nil
		touched = e.meta.listed
	case e.meta.kind == kindPresence && a.presences[e.meta.device] == e:
		delete(a.presences, e.meta.device)
	default:
		return
	}
	if a.record == nil && len(a.presences) == 0 {
		delete(s.accounts, e.meta.account)
		return
	}
	s.reliveLocked(e.meta.account, touched)
}

func (s *Store) accountLocked(id crypto.AccountID) *account {
	a := s.accounts[id]
	if a == nil {
		a = &account{presences: make(map[crypto.DeviceID]*entry)}
		s.accounts[id] = a
	}
	return a
}

// reliveLocked recomputes which of an account's records are live: its
// account record if a listed device has a presence record here, and the
// presence records of the touched devices if the account record lists
// them. Only touched devices can have changed, so the cost is bounded by
// records.MaxDevices, however many presence records claim the account.
func (s *Store) reliveLocked(id crypto.AccountID, touched []crypto.DeviceID) {
	a := s.accounts[id]
	if a == nil {
		return
	}
	if a.record != nil {
		present := false
		for d := range a.listed {
			if a.presences[d] != nil {
				present = true
				break
			}
		}
		s.setLiveLocked(a.record, present)
	}
	for _, d := range touched {
		if p := a.presences[d]; p != nil {
			_, listed := a.listed[d]
			s.setLiveLocked(p, listed)
		}
	}
}

func (s *Store) setLiveLocked(e *entry, live bool) {
	if e.live == live {
		return
	}
	if e.live {
		heap.Remove(&s.live, e.hidx)
		e.live = false
		heap.Push(&s.dead, e)
	} else {
		heap.Remove(&s.dead, e.hidx)
		e.live = true
		heap.Push(&s.live, e)
	}
}

// entryHeap orders entries oldest first (container/heap).
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.hidx = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
