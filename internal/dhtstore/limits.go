package dhtstore

import (
	"fmt"
	"sync/atomic"
)

// Limits are the caps of a Store. Every field must be positive; Check says
// which is not.
type Limits struct {
	// MaxRecords and MaxBytes bound the whole store: the number of records
	// and the bytes they take (datastore key and value).
	MaxRecords int
	MaxBytes   int64
	// MaxRecordsPerPeer and MaxBytesPerPeer bound what one sending peer
	// (or the local node) has stored.
	MaxRecordsPerPeer int
	MaxBytesPerPeer   int64
	// MaxRecordsPerIP and MaxBytesPerIP bound what the peers of one IPv4
	// address or IPv6 /64 have stored.
	MaxRecordsPerIP int
	MaxBytesPerIP   int64
}

// Sizing. A typical account record with two devices and a CRL is about
// 2.1 KB, a presence record 250 to 600 bytes, so an online account with two
// devices stores 3 records and about 3.2 KB (plus about 100 bytes of key and
// receive time each). A record is at most 64 KiB (records.MaxAccountRecordSize).
//
// Every record lives on the k = 20 DHT servers closest to its key, and
// nodes behind NAT are DHT clients; so while a network has 20 or fewer DHT
// servers (bootstraps and public nodes), every bootstrap holds every online
// account's records.
const (
	// DefaultMaxRecords is the bootstraps' total: room for about 30,000
	// online accounts of two devices each (3 records each).
	DefaultMaxRecords = 100_000
	// DefaultMaxBytes is the bootstraps' byte total: 30,000 such accounts
	// take about 100 MiB.
	DefaultMaxBytes = 128 << 20
	// DefaultMaxRecordsPerPeer: a device stores 2 records (its presence
	// and its account's record) and repairs a few stale ones it found in
	// its lookups.
	DefaultMaxRecordsPerPeer = 32
	// DefaultMaxBytesPerPeer fits 32 typical records, or 7 of the largest.
	DefaultMaxBytesPerPeer = 512 << 10
	// DefaultMaxRecordsPerIP: about 340 accounts behind one address (a
	// carrier-grade NAT, an office), and 98 addresses to fill the store.
	DefaultMaxRecordsPerIP = 1024
	// DefaultMaxBytesPerIP: those 340 accounts take about 1.1 MiB; at the
	// largest record size 32 addresses are needed to fill the store.
	DefaultMaxBytesPerIP = 4 << 20

	// NodeMaxRecords and NodeMaxBytes are the totals of a node in DHT
	// server mode: a node is one of many servers and holds only the
	// records whose keys are close to its own ID, and it is someone's
	// laptop or phone.
	NodeMaxRecords = 8192
	NodeMaxBytes   = 16 << 20
)

// BootstrapLimits returns the default caps of a bootstrap server.
func BootstrapLimits() Limits {
	return Limits{
		MaxRecords:        DefaultMaxRecords,
		MaxBytes:          DefaultMaxBytes,
		MaxRecordsPerPeer: DefaultMaxRecordsPerPeer,
		MaxBytesPerPeer:   DefaultMaxBytesPerPeer,
		MaxRecordsPerIP:   DefaultMaxRecordsPerIP,
		MaxBytesPerIP:     DefaultMaxBytesPerIP,
	}
}

// NodeLimits returns the caps of a node in DHT server mode.
func NodeLimits() Limits {
	l := BootstrapLimits()
	l.MaxRecords, l.MaxBytes = NodeMaxRecords, NodeMaxBytes
	return l
}

// Check reports the first cap that is not positive.
func (l Limits) Check() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxRecords", int64(l.MaxRecords)}, {"MaxBytes", l.MaxBytes},
		{"MaxRecordsPerPeer", int64(l.MaxRecordsPerPeer)}, {"MaxBytesPerPeer", l.MaxBytesPerPeer},
		{"MaxRecordsPerIP", int64(l.MaxRecordsPerIP)}, {"MaxBytesPerIP", l.MaxBytesPerIP},
	} {
		if f.v <= 0 {
			return fmt.Errorf("dhtstore: %w: %s is %d", ErrBadLimits, f.name, f.v)
		}
	}
	return nil
}

// Metrics counts what a Store dropped. The fields are monotonic counters,
// safe to read at any time.
type Metrics struct {
	// EvictedPeer counts records dropped because their sender stored
	// more than the per-peer caps allow.
	EvictedPeer atomic.Uint64
	// EvictedIP counts records dropped because the peers of their
	// sender's address stored more than the per-IP caps allow.
	EvictedIP atomic.Uint64
	// EvictedTotal counts records dropped to keep the store within its
	// totals.
	EvictedTotal atomic.Uint64
	// Expired counts records swept out after their own expiry.
	Expired atomic.Uint64
	// Refused counts records not stored at all: one record larger than a
	// byte cap on its own.
	Refused atomic.Uint64
}

// Dropped is the sum of every counter: records that were sent and are not
// kept.
func (m *Metrics) Dropped() uint64 {
	return m.EvictedPeer.Load() + m.EvictedIP.Load() + m.EvictedTotal.Load() + m.Expired.Load() + m.Refused.Load()
}
