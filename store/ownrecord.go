package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Keys in bucketOwnRecord.
var (
	ownRecordKey = []byte("record")
	ownSeqKey    = []byte("seq")
)

// maxOwnRecordLen bounds the stored account record (records allow 64 KiB).
const maxOwnRecordLen = 64 << 10

// PutOwnRecord keeps raw, a verified account record of this device's own
// account signed by an admin device, when its sequence number seq is higher
// than the stored one's. It reports whether raw was stored. A member device
// republishes these bytes: it cannot sign a record itself.
func (s *Store) PutOwnRecord(raw []byte, seq uint64) (bool, error) {
	if len(raw) == 0 || len(raw) > maxOwnRecordLen {
		return false, fmt.Errorf("store: put own record: %w: record is %d bytes, max %d", ErrInvalid, len(raw), maxOwnRecordLen)
	}
	stored := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketOwnRecord)
		if err != nil {
			return err
		}
		if have := b.Get(ownSeqKey); len(have) == 8 && binary.BigEndian.Uint64(have) >= seq {
			return nil
		}
		if err := b.Put(ownRecordKey, raw); err != nil {
			return err
		}
		stored = true
		return b.Put(ownSeqKey, binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return false, fmt.Errorf("store: put own record: %w", err)
	}
	return stored, nil
}

// OwnRecord returns the stored account record of the own account and its
// sequence number; ok is false when there is none.
func (s *Store) OwnRecord() (raw []byte, seq uint64, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketOwnRecord)
		if err != nil {
			return err
		}
		r, sq := b.Get(ownRecordKey), b.Get(ownSeqKey)
		if r == nil {
			return nil
		}
		if len(sq) != 8 {
			return fmt.Errorf("%w: own record sequence is %d bytes", ErrCorrupt, len(sq))
		}
		raw, seq, ok = append([]byte(nil), r...), binary.BigEndian.Uint64(sq), true
		return nil
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("store: own record: %w", err)
	}
	return raw, seq, ok, nil
}
