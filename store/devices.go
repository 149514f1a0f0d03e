package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DeviceMeta is what this device knows about another device of the account
// beyond its certificate.
type DeviceMeta struct {
	// Linked is when the device was linked to the account (earliest known).
	Linked time.Time
	// LastSeen is when this device last exchanged state with it.
	LastSeen time.Time
}

// deviceMetaRecord is the JSON stored under the device ID in
// bucketDeviceMeta.
type deviceMetaRecord struct {
	V        int       `json:"v"`
	Linked   time.Time `json:"linked,omitzero"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// updateDeviceMeta changes the record of one device inside one transaction.
func (s *Store) updateDeviceMeta(op, deviceID string, edit func(*deviceMetaRecord)) error {
	if err := checkKey("device ID", deviceID); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketDeviceMeta)
		if err != nil {
			return err
		}
		var rec deviceMetaRecord
		if _, err := getJSON(b, []byte(deviceID), &rec); err != nil {
			rec = deviceMetaRecord{} // replace a damaged record
		}
		rec.V = recordVersion
		edit(&rec)
		return putJSON(b, []byte(deviceID), &rec)
	})
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", op, deviceID, err)
	}
	return nil
}

// NoteDeviceLinked records when a device was linked. The earliest time
// given wins; a zero time is ignored.
func (s *Store) NoteDeviceLinked(deviceID string, t time.Time) error {
	return s.updateDeviceMeta("note device linked", deviceID, func(r *deviceMetaRecord) {
		if !t.IsZero() && (r.Linked.IsZero() || t.Before(r.Linked)) {
			r.Linked = t.UTC().Round(0)
		}
	})
}

// NoteDeviceSeen records that this device exchanged state with another at
// t. The latest time given wins.
func (s *Store) NoteDeviceSeen(deviceID string, t time.Time) error {
	return s.updateDeviceMeta("note device seen", deviceID, func(r *deviceMetaRecord) {
		if t.After(r.LastSeen) {
			r.LastSeen = t.UTC().Round(0)
		}
	})
}

// DeviceMetas returns what is known about the account's devices, keyed by
// device ID. Records that do not decode are skipped.
func (s *Store) DeviceMetas() (map[string]DeviceMeta, error) {
	out := map[string]DeviceMeta{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketDeviceMeta)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var rec deviceMetaRecord
			if decodeJSON(v, &rec) != nil || checkVersion(rec.V) != nil {
				return nil
			}
			out[string(k)] = DeviceMeta{Linked: rec.Linked, LastSeen: rec.LastSeen}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: device metadata: %w", err)
	}
	return out, nil
}
