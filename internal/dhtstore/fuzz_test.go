package dhtstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
)

var (
	poolOnce sync.Once
	pool     []rec // real records: accounts with presence, strangers, junk
)

func recordPool(t testing.TB) []rec {
	poolOnce.Do(func() {
		for range 4 {
			a := newAcct(t, 2, time.Hour)
			pool = append(pool, a.record, a.presences[0], a.presences[1])
			pool = append(pool, junkPresence(t))
		}
		pool = append(pool, newBlinded(t, time.Hour)...)
	})
	return pool
}

// FuzzStore runs a sequence of puts (real records and arbitrary bytes, from
// a few senders) and deletes against small caps, and checks after each step
// that every cap holds and every index agrees with the records.
//
// Each op is 3 bytes: op kind, sender, and a record index or a length of
// arbitrary value bytes taken from the rest of the input.
func FuzzStore(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 1, 1, 0, 1, 2, 1, 2, 0, 2, 0, 0})
	f.Add([]byte{3, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 2, 3, 0, 2, 4, 2, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := recordPool(t)
		l := Limits{MaxRecords: 6, MaxBytes: 6000, MaxRecordsPerPeer: 3, MaxBytesPerPeer: 4000, MaxRecordsPerIP: 4, MaxBytesPerIP: 5000}
		s, err := New(Options{Limits: l, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for len(data) >= 3 {
			op, who, arg := data[0], int(data[1]%4), int(data[2])
			data = data[3:]
			from := sender{}
			if who > 0 {
				from = peerSender(who % 3) // two senders share nothing, one is local
			}
			switch op % 4 {
			case 0, 1: // a real record
				r := p[arg%len(p)]
				_ = put(t, s, from, r)
			case 2: // delete
				_ = s.Delete(ctx, p[arg%len(p)].dsKey())
			case 3: // arbitrary bytes under an arbitrary key
				n := min(arg, len(data))
				v := data[:n]
				data = data[n:]
				_ = s.Put(ctx, ds.NewKey(fmt.Sprintf("/junk/%d", arg%5)), v)
			}
			checkInvariants(t, s, l)
		}
	})
}

func checkInvariants(t *testing.T, s *Store, l Limits) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) > l.MaxRecords || s.bytes > l.MaxBytes {
		t.Fatalf("totals %d records, %d bytes over %+v", len(s.entries), s.bytes, l)
	}
	if len(s.live)+len(s.dead) != len(s.entries) {
		t.Fatalf("heaps hold %d+%d, entries %d", len(s.live), len(s.dead), len(s.entries))
	}
	var bytes int64
	n := 0
	for _, b := range s.peers {
		if b.list.Len() > l.MaxRecordsPerPeer || b.bytes > l.MaxBytesPerPeer {
			t.Fatalf("a peer holds %d records, %d bytes", b.list.Len(), b.bytes)
		}
		n += b.list.Len()
	}
	for _, b := range s.ips {
		if b.list.Len() > l.MaxRecordsPerIP || b.bytes > l.MaxBytesPerIP {
			t.Fatalf("an address holds %d records, %d bytes", b.list.Len(), b.bytes)
		}
	}
	if n != len(s.entries) {
		t.Fatalf("peer buckets hold %d records, entries %d", n, len(s.entries))
	}
	for k, e := range s.entries {
		bytes += e.size
		h := s.dead
		if e.live {
			h = s.live
		}
		if e.hidx >= len(h) || h[e.hidx] != e || e.key != k {
			t.Fatalf("entry %s misplaced", k)
		}
	}
	if bytes != s.bytes {
		t.Fatalf("bytes %d, entries sum to %d", s.bytes, bytes)
	}
	for id, a := range s.accounts {
		if a.record == nil && len(a.presences) == 0 {
			t.Fatalf("empty account %s kept", id.Short())
		}
		if a.record != nil && s.entries[a.record.key] != a.record {
			t.Fatalf("account %s points at a removed record", id.Short())
		}
	}
}
