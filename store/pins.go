package store

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/crypto"
	bolt "go.etcd.io/bbolt"
)

// maxPinnedSerials bounds the revoked serials one pin keeps: more than a
// record's CRL can hold (records.MaxCRLSize, 32 KiB, at ≥ 20 bytes per
// entry).
const maxPinnedSerials = 2048

// maxSerialLen bounds one serial number (X.509 allows 20 octets).
const maxSerialLen = 32

// AccountPin is the newest state of an account's record this node has
// accepted: the highest record sequence number, the highest CRL number and
// the serial numbers that CRL revokes. A record that goes below any of the
// three — an older sequence, an older CRL, a CRL that no longer lists a
// serial — is a rollback and is refused, whoever presents it.
type AccountPin struct {
	Seq       uint64
	CRLNumber uint64
	// Revoked are the revoked device certificate serial numbers
	// (big-endian bytes, as big.Int.Bytes), sorted.
	Revoked [][]byte
}

// pinRecord is the JSON form of an AccountPin in bucketPins.
type pinRecord struct {
	V         int      `json:"v"`
	Seq       uint64   `json:"seq"`
	CRLNumber uint64   `json:"crl"`
	Revoked   [][]byte `json:"revoked,omitempty"`
}

// RollbackError says how a record falls below the pin of its account.
type RollbackError struct {
	Account crypto.AccountID
	Reason  string
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("account %s: %s", e.Account.Short(), e.Reason)
}

// Unwrap makes errors.Is(err, ErrRollback) true.
func (e *RollbackError) Unwrap() error { return ErrRollback }

// check returns a *RollbackError when p (a candidate) is older than pin.
func (pin AccountPin) check(id crypto.AccountID, p AccountPin) error {
	switch {
	case p.Seq < pin.Seq:
		return &RollbackError{id, fmt.Sprintf("record sequence %d is older than %d, accepted before", p.Seq, pin.Seq)}
	case p.CRLNumber < pin.CRLNumber:
		return &RollbackError{id, fmt.Sprintf("CRL number %d is older than %d, accepted before", p.CRLNumber, pin.CRLNumber)}
	}
	for _, s := range pin.Revoked {
		if _, found := slices.BinarySearchFunc(p.Revoked, s, bytes.Compare); !found {
			return &RollbackError{id, fmt.Sprintf("CRL no longer revokes serial %x", s)}
		}
	}
	return nil
}

// normalize sorts and de-duplicates the serials and checks the bounds.
func (pin *AccountPin) normalize() error {
	if len(pin.Revoked) > maxPinnedSerials {
		return fmt.Errorf("%w: %d revoked serials > %d", ErrInvalid, len(pin.Revoked), maxPinnedSerials)
	}
	for _, s := range pin.Revoked {
		if len(s) == 0 || len(s) > maxSerialLen {
			return fmt.Errorf("%w: serial of %d bytes", ErrInvalid, len(s))
		}
	}
	pin.Revoked = slices.Clone(pin.Revoked)
	slices.SortFunc(pin.Revoked, bytes.Compare)
	pin.Revoked = slices.CompactFunc(pin.Revoked, bytes.Equal)
	return nil
}

// Pins are the store's per-account pins (see AccountPin).
type Pins struct{ s *Store }

// Pins returns the store's account pins.
func (s *Store) Pins() Pins { return Pins{s} }

// Get returns the pin of an account; ok is false when it has none.
func (ps Pins) Get(id crypto.AccountID) (pin AccountPin, ok bool, err error) {
	err = ps.s.db.View(func(tx *bolt.Tx) error {
		pin, ok, err = getPin(tx, id)
		return err
	})
	if err != nil {
		return AccountPin{}, false, fmt.Errorf("store: account pin %s: %w", id.Short(), err)
	}
	return pin, ok, nil
}

// Check returns a *RollbackError (errors.Is ErrRollback) when p is older
// than the account's pin; nil when it is not, or when the account has no
// pin.
func (ps Pins) Check(id crypto.AccountID, p AccountPin) error {
	if err := p.normalize(); err != nil {
		return fmt.Errorf("store: check account pin: %w", err)
	}
	pin, ok, err := ps.Get(id)
	if err != nil || !ok {
		return err
	}
	return pin.check(id, p)
}

// Raise checks p against the account's pin and, in the same transaction,
// stores p as the new pin. With create false an account
// without a pin is left without one (nothing is stored, nil is returned);
// with create true it gets p. It returns a *RollbackError, and stores
// nothing, when p is older than the pin.
func (ps Pins) Raise(id crypto.AccountID, p AccountPin, create bool) error {
	if err := p.normalize(); err != nil {
		return fmt.Errorf("store: raise account pin: %w", err)
	}
	err := ps.s.db.Update(func(tx *bolt.Tx) error {
		pin, ok, err := getPin(tx, id)
		if err != nil {
			return err
		}
		if !ok && !create {
			return nil
		}
		if ok {
			if err := pin.check(id, p); err != nil {
				return err
			}
			if pin.Seq == p.Seq && pin.CRLNumber == p.CRLNumber && len(pin.Revoked) == len(p.Revoked) {
				return nil // the same record again: nothing to write
			}
		}
		b, err := bucket(tx, bucketPins)
		if err != nil {
			return err
		}
		return putJSON(b, id.Bytes(), pinRecord{V: recordVersion, Seq: p.Seq, CRLNumber: p.CRLNumber, Revoked: p.Revoked})
	})
	if err != nil {
		return fmt.Errorf("store: raise account pin: %w", err)
	}
	return nil
}

// getPin reads the pin of id in tx.
func getPin(tx *bolt.Tx, id crypto.AccountID) (AccountPin, bool, error) {
	b, err := bucket(tx, bucketPins)
	if err != nil {
		return AccountPin{}, false, err
	}
	var r pinRecord
	ok, err := getJSON(b, id.Bytes(), &r)
	if err != nil || !ok {
		return AccountPin{}, false, err
	}
	if r.V != recordVersion {
		return AccountPin{}, false, fmt.Errorf("%w: pin version %d", ErrCorrupt, r.V)
	}
	pin := AccountPin{Seq: r.Seq, CRLNumber: r.CRLNumber, Revoked: r.Revoked}
	if err := pin.normalize(); err != nil {
		return AccountPin{}, false, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return pin, true, nil
}
