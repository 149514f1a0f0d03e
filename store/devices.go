package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// DeviceMeta is what this device knows about another device of the account
// beyond its certificate.
type DeviceMeta struct {
	// Linked is when the device was linked to the account (earliest known).
	Linked time.Time
	// LastSeen is when this device last exchanged state with it.
	LastSeen time.Time
}

// deviceMetaRecord is the JSON stored in bucketDeviceMeta under the text
// form of the device ID.
type deviceMetaRecord struct {
	V        int       `json:"v"`
	Linked   time.Time `json:"linked,omitzero"`
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// updateDeviceMeta changes the record of one device inside one transaction.
func (s *Store) updateDeviceMeta(op string, deviceID crypto.DeviceID, edit func(*deviceMetaRecord)) error {
	if err := checkDevice("device ID", deviceID); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketDeviceMeta)
		if err != nil {
			return err
		}
		key := deviceKey(deviceID)
		var rec deviceMetaRecord
		if _, err := getJSON(b, key, &rec); err != nil {
			rec = deviceMetaRecord{} // replace a damaged record
		}
		rec.V = recordVersion
		edit(&rec)
		return putJSON(b, key, &rec)
	})
	if err != nil {
		return fmt.Errorf("store: %s %s: %w", op, deviceID, err)
	}
	return nil
}

// NoteDeviceLinked records when a device was linked. The earliest time
// given wins; a zero time is ignored.
func (s *Store) NoteDeviceLinked(deviceID crypto.DeviceID, t time.Time) error {
	return s.updateDeviceMeta("note device linked", deviceID, func(r *deviceMetaRecord) {
		if !t.IsZero() && (r.Linked.IsZero() || t.Before(r.Linked)) {
			r.Linked = t.UTC().Round(0)
		}
	})
}

// NoteDeviceSeen records that this device exchanged state with another at
// t. The latest time given wins.
func (s *Store) NoteDeviceSeen(deviceID crypto.DeviceID, t time.Time) error {
	return s.updateDeviceMeta("note device seen", deviceID, func(r *deviceMetaRecord) {
		if t.After(r.LastSeen) {
			r.LastSeen = t.UTC().Round(0)
		}
	})
}

// DeviceMetas returns what is known about the account's devices, keyed by
// device ID. Records that do not decode, or whose key is not a device ID,
// are skipped.
func (s *Store) DeviceMetas() (map[crypto.DeviceID]DeviceMeta, error) {
	out := map[crypto.DeviceID]DeviceMeta{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketDeviceMeta)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			d, err := parseDeviceKey(k)
			if err != nil {
				return nil
			}
			var rec deviceMetaRecord
			if decodeJSON(v, &rec) != nil || checkVersion(rec.V) != nil {
				return nil
			}
			out[d] = DeviceMeta{Linked: rec.Linked, LastSeen: rec.LastSeen}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: device metadata: %w", err)
	}
	return out, nil
}
