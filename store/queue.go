package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/crypto"
	bolt "go.etcd.io/bbolt"
)

// The durable queue of what a revocation or another change of the account
// must still reach (bucketQueue): accounts to push the account record to,
// and revoked devices to tell. An item stays until it was delivered, across
// restarts; each value is the time it was queued (8-byte big-endian Unix
// nanoseconds).
var (
	queuePushPrefix = []byte("push/") // + account ID text form
	queueTellPrefix = []byte("tell/") // + device ID text form
)

// Queued names what a change of the account must still reach.
type Queued struct {
	// Push are contact accounts to send the new account record to.
	Push []crypto.AccountID
	// Tell are revoked devices to tell about their revocation.
	Tell []crypto.DeviceID
}

// QueuedItem is one queued account or device and when it was queued.
type QueuedItem[T any] struct {
	ID     T
	Queued time.Time
}

// putQueueTx adds q to the queue in tx; an item already queued keeps its
// time.
func (s *Store) putQueueTx(tx *bolt.Tx, q Queued) error {
	b, err := bucket(tx, bucketQueue)
	if err != nil {
		return err
	}
	now := binary.BigEndian.AppendUint64(nil, uint64(s.now().UnixNano()))
	put := func(key []byte) error {
		if b.Get(key) != nil {
			return nil
		}
		return b.Put(key, now)
	}
	for _, a := range q.Push {
		if err := checkAccount("account ID", a); err != nil {
			return err
		}
		if err := put(append(bytes.Clone(queuePushPrefix), accountKey(a)...)); err != nil {
			return err
		}
	}
	for _, d := range q.Tell {
		if err := checkDevice("device ID", d); err != nil {
			return err
		}
		if err := put(append(bytes.Clone(queueTellPrefix), deviceKey(d)...)); err != nil {
			return err
		}
	}
	return nil
}

// Queue is the store's durable queue of record pushes and revocation
// notices.
type Queue struct{ s *Store }

// Queue returns the store's durable queue.
func (s *Store) Queue() Queue { return Queue{s} }

// Add adds q to the durable queue (one transaction).
func (qu Queue) Add(q Queued) error {
	if err := qu.s.db.Update(func(tx *bolt.Tx) error { return qu.s.putQueueTx(tx, q) }); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	return nil
}

// PutCRLAndEnqueue stores a new CRL of the account (as PutCRL) and queues
// q in the same transaction: a revocation and the messages that must
// announce it are stored together or not at all.
func (s *Store) PutCRLAndEnqueue(der []byte, number uint64, q Queued) error {
	if err := checkDER("CRL", der); err != nil {
		return fmt.Errorf("store: put CRL: %w", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putCRLTx(tx, der, number); err != nil {
			return err
		}
		return s.putQueueTx(tx, q)
	})
	if err != nil {
		return fmt.Errorf("store: put CRL: %w", err)
	}
	return nil
}

// Pushes returns the accounts still to be sent the account record, oldest
// first.
func (qu Queue) Pushes() ([]QueuedItem[crypto.AccountID], error) {
	return queued(qu.s, queuePushPrefix, func(text string) (crypto.AccountID, error) { return crypto.ParseAccountID(text) })
}

// Tells returns the revoked devices still to be told, oldest first.
func (qu Queue) Tells() ([]QueuedItem[crypto.DeviceID], error) {
	return queued(qu.s, queueTellPrefix, func(text string) (crypto.DeviceID, error) { return crypto.ParseDeviceID(text) })
}

// DonePush removes an account from the push queue (no error if absent).
func (qu Queue) DonePush(a crypto.AccountID) error {
	return qu.s.dequeue(append(bytes.Clone(queuePushPrefix), accountKey(a)...))
}

// DoneTell removes a device from the tell queue (no error if absent).
func (qu Queue) DoneTell(d crypto.DeviceID) error {
	return qu.s.dequeue(append(bytes.Clone(queueTellPrefix), deviceKey(d)...))
}

func (s *Store) dequeue(key []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketQueue)
		if err != nil {
			return err
		}
		return b.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("store: dequeue: %w", err)
	}
	return nil
}

// queued lists the items under prefix, oldest first; a key that does not
// parse is skipped (and left for Check-style repair by hand).
func queued[T any](s *Store, prefix []byte, parse func(string) (T, error)) ([]QueuedItem[T], error) {
	var out []QueuedItem[T]
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketQueue)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			id, err := parse(string(k[len(prefix):]))
			if err != nil || len(v) != 8 {
				continue
			}
			out = append(out, QueuedItem[T]{ID: id, Queued: time.Unix(0, int64(binary.BigEndian.Uint64(v)))})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: queue: %w", err)
	}
	// Oldest first; equal times keep key order.
	slices.SortStableFunc(out, func(a, b QueuedItem[T]) int { return a.Queued.Compare(b.Queued) })
	return out, nil
}
