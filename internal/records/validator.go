package records

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/parleyhq/parley/crypto"
)

// ProtocolPrefix is the kad-dht protocol prefix of the Parley DHT, which
// speaks "/parley/kad/1.0.0" and so never mixes with the public IPFS DHT.
const ProtocolPrefix = "/parley"

// Validator returns the kad-dht validator for the four Parley namespaces:
// account and presence records, and their blinded forms. now is
// the clock records are checked against; nil means time.Now.
func Validator(now func() time.Time) record.NamespacedValidator {
	if now == nil {
		now = time.Now
	}
	return record.NamespacedValidator{
		AccountNamespace: validator{now: now, parse: func(key string, v []byte, t time.Time) (uint64, time.Time, error) {
			a, err := ParseAccount(key, v, t)
			if err != nil {
				return 0, time.Time{}, err
			}
			return a.Seq, a.Expires, nil
		}},
		PresenceNamespace: validator{now: now, parse: func(key string, v []byte, t time.Time) (uint64, time.Time, error) {
			p, err := ParsePresence(key, v, t)
			if err != nil {
				return 0, time.Time{}, err
			}
			return p.Seq, p.Expires, nil
		}},
		BlindAccountNamespace: validator{now: now, parse: func(key string, v []byte, t time.Time) (uint64, time.Time, error) {
			b, err := ParseBlindAccount(key, v, t)
			if err != nil {
				return 0, time.Time{}, err
			}
			return b.Seq, b.Expires, nil
		}},
		BlindPresenceNamespace: validator{now: now, parse: func(key string, v []byte, t time.Time) (uint64, time.Time, error) {
			b, err := ParseBlindPresence(key, v, t)
			if err != nil {
				return 0, time.Time{}, err
			}
			return b.Seq, b.Expires, nil
		}},
	}
}

// DHTOptions returns the kad-dht options every Parley DHT uses: the private
// protocol prefix, the Parley validator, no provider records (Parley stores
// only values), and a record age limit of MaxTTL + ClockSkew (the account records' 30 days; presence records expire by their own signed time, which every read checks).
func DHTOptions(now func() time.Time) []dht.Option {
	return []dht.Option{
		dht.ProtocolPrefix(ProtocolPrefix),
		dht.Validator(Validator(now)),
		dht.DisableProviders(),
		dht.MaxRecordAge(MaxTTL + ClockSkew),
	}
}

// validator is the record.Validator of one namespace.
type validator struct {
	now   func() time.Time
	parse func(key string, value []byte, now time.Time) (seq uint64, expires time.Time, err error)
}

// Validate implements record.Validator.
func (v validator) Validate(key string, value []byte) error {
	_, _, err := v.parse(key, value, v.now())
	return err
}

// Select implements record.Validator: among the valid values the one with
// the highest sequence number wins; on a tie the later expiry; on a tie the
// lexicographically greatest bytes, so every server chooses the same.
func (v validator) Select(key string, values [][]byte) (int, error) {
	now := v.now()
	best := -1
	var bestSeq uint64
	var bestExp time.Time
	var firstErr error
	for i, val := range values {
		seq, exp, err := v.parse(key, val, now)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best < 0 || better(seq, exp, val, bestSeq, bestExp, values[best]) {
			best, bestSeq, bestExp = i, seq, exp
		}
	}
	if best < 0 {
		if firstErr == nil {
			firstErr = errors.New("no values")
		}
		return 0, fmt.Errorf("records.Select: %w: %w", ErrNoValidRecord, firstErr)
	}
	return best, nil
}

// better reports whether record a is preferred over record b.
func better(seqA uint64, expA time.Time, valA []byte, seqB uint64, expB time.Time, valB []byte) bool {
	switch {
	case seqA != seqB:
		return seqA > seqB
	case !expA.Equal(expB):
		return expA.After(expB)
	default:
		return bytes.Compare(valA, valB) > 0
	}
}

// isBadSignature reports whether a crypto error is a signature failure.
func isBadSignature(err error) bool {
	return errors.Is(err, crypto.ErrBadSignature)
}
