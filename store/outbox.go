package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// OutboxItem is a contact message waiting to be delivered. There is at most
// one per recipient account: a newer message to the same account replaces
// the older one (an acceptance supersedes a request, say).
type OutboxItem struct {
	ID          string           // random, set by PutOutbox when empty; guards against replacing a newer item
	To          crypto.AccountID // recipient account; the key
	Kind        string           // protocol message kind ("request", "accept", "decline")
	Name        string           // sender's display name to include, at most 128 bytes
	Message     string           // message text, at most 1024 bytes
	Created     time.Time        // set by PutOutbox when zero
	Attempts    int              // failed delivery attempts so far
	LastAttempt time.Time        // time of the last failed attempt
	LastError   string           // why the last attempt failed
}

// outboxRecord is the JSON stored in bucketOutbox under the text form of
// the recipient's account ID.
type outboxRecord struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name,omitempty"`
	Message     string    `json:"message,omitempty"`
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// maxErrorLen bounds a stored delivery error.
const maxErrorLen = 512

// PutOutbox stores it as the pending message to it.To, replacing any other.
func (s *Store) PutOutbox(it OutboxItem) error {
	rec, err := s.newOutboxRecord(&it)
	if err != nil {
		return fmt.Errorf("store: put outbox: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		return putJSON(b, accountKey(it.To), rec)
	})
	if err != nil {
		return fmt.Errorf("store: put outbox: %w", err)
	}
	return nil
}

// newOutboxRecord validates it, fills in its ID and Created when unset,
// and returns the record to store.
func (s *Store) newOutboxRecord(it *OutboxItem) (*outboxRecord, error) {
	if err := checkAccount("recipient", it.To); err != nil {
		return nil, err
	}
	if err := checkKey("message kind", it.Kind); err != nil {
		return nil, err
	}
	if err := checkText("name", it.Name, maxNameLen); err != nil {
		return nil, err
	}
	if err := checkText("message", it.Message, maxMessageLen); err != nil {
		return nil, err
	}
	if it.ID == "" {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		it.ID = hex.EncodeToString(b)
	}
	if it.Created.IsZero() {
		it.Created = s.now().UTC()
	}
	return &outboxRecord{
		V: recordVersion, ID: it.ID, Kind: it.Kind, Name: it.Name, Message: it.Message,
		Created: it.Created, Attempts: it.Attempts, LastAttempt: it.LastAttempt, LastError: it.LastError,
	}, nil
}

// Outbox returns the pending messages, ordered by the text form of the
// recipient. An item whose key is not an account ID can never be delivered
// and is left out.
func (s *Store) Outbox() ([]OutboxItem, error) {
	var out []OutboxItem
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			to, err := parseAccountKey(k)
			if err != nil {
				return nil
			}
			it, err := decodeOutbox(to, v)
			if err != nil {
				return err
			}
			out = append(out, it)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return out, nil
}

func decodeOutbox(to crypto.AccountID, raw []byte) (OutboxItem, error) {
	var rec outboxRecord
	if err := decodeJSON(raw, &rec); err != nil {
		return OutboxItem{}, err
	}
	if err := checkVersion(rec.V); err != nil {
		return OutboxItem{}, err
	}
	return OutboxItem{
		ID: rec.ID, To: to, Kind: rec.Kind, Name: rec.Name, Message: rec.Message, Created: rec.Created,
		Attempts: rec.Attempts, LastAttempt: rec.LastAttempt, LastError: rec.LastError,
	}, nil
}

// errStale stops a transaction whose item was replaced meanwhile.
var errStale = errors.New("outbox item replaced")

// DeleteOutbox removes the pending message to account to. With a non-empty
// id, it removes it only if it is still that item (a newer message queued
// meanwhile stays). Removing nothing is not an error.
func (s *Store) DeleteOutbox(to crypto.AccountID, id string) error {
	key := accountKey(to)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		if id != "" {
			raw := b.Get(key)
			if raw == nil {
				return nil
			}
			it, err := decodeOutbox(to, raw)
			if err == nil && it.ID != id {
				return errStale
			}
		}
		return b.Delete(key)
	})
	if err != nil && !errors.Is(err, errStale) {
		return fmt.Errorf("store: delete outbox: %w", err)
	}
	return nil
}

// RecordOutboxAttempt notes a failed delivery of item id to account to. It
// does nothing if the item was replaced or removed meanwhile.
func (s *Store) RecordOutboxAttempt(to crypto.AccountID, id, reason string) error {
	key := accountKey(to)
	if len(reason) > maxErrorLen {
		reason = reason[:maxErrorLen]
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		raw := b.Get(key)
		if raw == nil {
			return nil
		}
		it, err := decodeOutbox(to, raw)
		if err != nil {
			return err
		}
		if it.ID != id {
			return nil
		}
		return putJSON(b, key, outboxRecord{
			V: recordVersion, ID: it.ID, Kind: it.Kind, Name: it.Name, Message: it.Message, Created: it.Created,
			Attempts: it.Attempts + 1, LastAttempt: s.now().UTC(), LastError: reason,
		})
	})
	if err != nil {
		return fmt.Errorf("store: outbox attempt: %w", err)
	}
	return nil
}
