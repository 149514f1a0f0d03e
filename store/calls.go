package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// maxCallHistory is how many calls the history keeps; older ones are
// dropped as new ones are added.
const maxCallHistory = 1000

// CallRecord is one entry of the call history. It is stored as JSON; the
// IDs are their text forms (MarshalText), as they always were.
type CallRecord struct {
	ID         string           `json:"id"`
	Direction  string           `json:"direction"` // "outgoing" or "incoming"
	Peer       crypto.AccountID `json:"peer"`      // the other account
	PeerDevice crypto.DeviceID  `json:"peer_device,omitempty"`
	Answered   bool             `json:"answered"`
	Started    time.Time        `json:"started"`
	Ended      time.Time        `json:"ended"`
	Reason     string           `json:"reason,omitempty"`
}

type callRecord struct {
	V int `json:"v"`
	CallRecord
}

// PutCall appends a call to the history (keyed by start time, so the
// history reads in order), dropping the oldest beyond 1000 entries.
func (s *Store) PutCall(c CallRecord) error {
	if err := checkKey("call ID", c.ID); err != nil {
		return fmt.Errorf("store: put call: %w", err)
	}
	if err := checkAccount("peer", c.Peer); err != nil {
		return fmt.Errorf("store: put call: %w", err)
	}
	if c.PeerDevice != "" {
		if err := checkDevice("peer device", c.PeerDevice); err != nil {
			return fmt.Errorf("store: put call: %w", err)
		}
	}
	if len(c.Reason) > maxMessageLen {
		c.Reason = c.Reason[:maxMessageLen]
	}
	key := binary.BigEndian.AppendUint64(nil, uint64(c.Started.UnixNano()))
	key = append(key, c.ID...)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketCalls)
		if err != nil {
			return err
		}
		if err := putJSON(b, key, callRecord{V: recordVersion, CallRecord: c}); err != nil {
			return err
		}
		for b.Stats().KeyN > maxCallHistory {
			k, _ := b.Cursor().First()
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put call: %w", err)
	}
	return nil
}

// Calls returns the call history, oldest first.
func (s *Store) Calls() ([]CallRecord, error) {
	var out []CallRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketCalls)
		if err != nil {
			return err
		}
		return b.ForEach(func(_, v []byte) error {
			var r callRecord
			if err := decodeJSON(v, &r); err != nil {
				return err
			}
			if err := checkVersion(r.V); err != nil {
				return err
			}
			out = append(out, r.CallRecord)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: calls: %w", err)
	}
	return out, nil
}
