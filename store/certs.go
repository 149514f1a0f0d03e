package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// Keys in bucketCRL.
var (
	crlKeyDER    = []byte("der")    // the CRL, DER
	crlKeyNumber = []byte("number") // its CRL number, 8-byte big-endian
)

// PutDeviceCert stores the DER certificate of one device of the account,
// replacing any earlier certificate of that device. The store does not parse
// it; verify it with package crypto first.
func (s *Store) PutDeviceCert(deviceID crypto.DeviceID, der []byte) error {
	if err := checkDevice("device ID", deviceID); err != nil {
		return fmt.Errorf("store: put device cert: %w", err)
	}
	if err := checkDER("device certificate", der); err != nil {
		return fmt.Errorf("store: put device cert %s: %w", deviceID, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketDeviceCert)
		if err != nil {
			return err
		}
		return b.Put(deviceKey(deviceID), der)
	})
	if err != nil {
		return fmt.Errorf("store: put device cert %s: %w", deviceID, err)
	}
	return nil
}

// DeviceCerts returns the stored device certificates keyed by device ID. The
// map is empty (not nil) when there are none. A certificate stored under a
// key that is not a device ID is left out.
func (s *Store) DeviceCerts() (map[crypto.DeviceID][]byte, error) {
	certs := make(map[crypto.DeviceID][]byte)
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketDeviceCert)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			if d, err := parseDeviceKey(k); err == nil {
				certs[d] = bytes.Clone(v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: device certs: %w", err)
	}
	return certs, nil
}

// DeleteDeviceCert removes the certificate of one device. It returns
// ErrNotFound when there is none.
func (s *Store) DeleteDeviceCert(deviceID crypto.DeviceID) error {
	if err := checkDevice("device ID", deviceID); err != nil {
		return fmt.Errorf("store: delete device cert: %w", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketDeviceCert)
		if err != nil {
			return err
		}
		key := deviceKey(deviceID)
		if b.Get(key) == nil {
			return ErrNotFound
		}
		return b.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("store: delete device cert %s: %w", deviceID, err)
	}
	return nil
}

// PutCRL stores the account's DER certificate revocation list and its CRL
// number. It returns ErrStaleCRL unless number is greater than the number of
// the stored CRL, so an old CRL can never replace a newer one. The first CRL
// may have any number.
func (s *Store) PutCRL(der []byte, number uint64) error {
	if err := checkDER("CRL", der); err != nil {
		return fmt.Errorf("store: put CRL: %w", err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return putCRLTx(tx, der, number) }); err != nil {
		return fmt.Errorf("store: put CRL: %w", err)
	}
	return nil
}

// putCRLTx stores the CRL in tx unless its number is not above the stored
// one's (ErrStaleCRL).
func putCRLTx(tx *bolt.Tx, der []byte, number uint64) error {
	b, err := bucket(tx, bucketCRL)
	if err != nil {
		return err
	}
	have, ok, err := crlNumber(b)
	if err != nil {
		return err
	}
	if ok && number <= have {
		return fmt.Errorf("%w: number %d, stored %d", ErrStaleCRL, number, have)
	}
	if err := b.Put(crlKeyDER, der); err != nil {
		return err
	}
	return b.Put(crlKeyNumber, binary.BigEndian.AppendUint64(nil, number))
}

// CRL returns the stored CRL and its number, or (nil, 0, nil) when none has
// been stored.
func (s *Store) CRL() (der []byte, number uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketCRL)
		if err != nil {
			return err
		}
		n, ok, err := crlNumber(b)
		if err != nil || !ok {
			return err
		}
		raw := b.Get(crlKeyDER)
		if raw == nil {
			return fmt.Errorf("%w: CRL number without CRL", ErrCorrupt)
		}
		der, number = bytes.Clone(raw), n
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: CRL: %w", err)
	}
	return der, number, nil
}

// crlNumber reads the stored CRL number; ok is false when there is none.
func crlNumber(b *bolt.Bucket) (n uint64, ok bool, err error) {
	raw := b.Get(crlKeyNumber)
	if raw == nil {
		return 0, false, nil
	}
	if len(raw) != 8 {
		return 0, false, fmt.Errorf("%w: CRL number is %d bytes, want 8", ErrCorrupt, len(raw))
	}
	return binary.BigEndian.Uint64(raw), true, nil
}
