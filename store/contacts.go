package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// ContactState is where a contact stands in the request handshake.
type ContactState string

// Contact states.
const (
	RequestSent     ContactState = "request-sent"     // we asked, they have not answered
	RequestReceived ContactState = "request-received" // they asked, we have not answered
	Accepted        ContactState = "accepted"         // both sides agreed
	Blocked         ContactState = "blocked"          // we refuse their requests and calls
	Declined        ContactState = "declined"         // we asked, they declined
	Removed         ContactState = "removed"          // they removed us from their contacts
)

// Valid reports whether s is one of the defined states.
func (s ContactState) Valid() bool {
	switch s {
	case RequestSent, RequestReceived, Accepted, Blocked, Declined, Removed:
		return true
	}
	return false
}

// Contact is another account this node knows.
type Contact struct {
	AccountID crypto.AccountID // the contact's account; the key, never zero
	Name      string           // local display name, at most 128 bytes
	State     ContactState     // must be Valid
	Message   string           // message sent with the request, at most 1024 bytes
	// Asked is the signed time of the last request received from the
	// contact (zero if none): a version of the contact that answered that
	// request (accepted, blocked, declined) is not undone by another
	// device's copy of the same request (see MergeSync).
	Asked time.Time
	// PresenceKey is the newest presence key the contact sent (in an
	// accept or update), zero if none: it opens the contact's presence
	// records. A put never replaces a stored key with an older one
	// (PresenceKey.Newer); only deleting the contact drops it.
	PresenceKey PresenceKey
	Created     time.Time // set by the store on the first PutContact
	Updated     time.Time // set by the store on every PutContact
}

// contactRecord is the JSON stored in bucketContacts under the account ID's
// text form.
type contactRecord struct {
	V       int          `json:"v"`
	Name    string       `json:"name,omitempty"`
	State   ContactState `json:"state"`
	Message string       `json:"message,omitempty"`
	Asked   time.Time    `json:"asked,omitzero"`
	PK      []byte       `json:"pk,omitempty"` // presence key, PresenceKeyLen bytes
	PG      uint32       `json:"pg,omitempty"` // its generation
	Created time.Time    `json:"created"`
	Updated time.Time    `json:"updated"`
}

// presenceKey returns the record's presence key (zero if none or
// malformed).
func (r *contactRecord) presenceKey() PresenceKey {
	var k PresenceKey
	if r.PG == 0 || len(r.PK) != PresenceKeyLen {
		return k
	}
	k.Gen = r.PG
	copy(k.Key[:], r.PK)
	return k
}

// setPresenceKey stores k in the record unless the record holds a newer
// one.
func (r *contactRecord) setPresenceKey(k PresenceKey) {
	if old := r.presenceKey(); k.IsZero() || (!old.IsZero() && !k.Newer(old)) {
		return
	}
	r.PK, r.PG = append([]byte(nil), k.Key[:]...), k.Gen
}

func (c *Contact) validate() error {
	if err := checkAccount("account ID", c.AccountID); err != nil {
		return err
	}
	if !c.State.Valid() {
		return fmt.Errorf("%w: contact state %q", ErrInvalid, c.State)
	}
	if err := checkText("contact name", c.Name, maxNameLen); err != nil {
		return err
	}
	return checkText("contact message", c.Message, maxMessageLen)
}

// decodeContact decodes and checks a stored contact.
func decodeContact(accountID crypto.AccountID, raw []byte) (Contact, error) {
	var rec contactRecord
	if err := decodeJSON(raw, &rec); err != nil {
		return Contact{}, err
	}
	if err := checkVersion(rec.V); err != nil {
		return Contact{}, err
	}
	if !rec.State.Valid() {
		return Contact{}, fmt.Errorf("%w: contact state %q", ErrCorrupt, rec.State)
	}
	return Contact{
		AccountID:   accountID,
		Name:        rec.Name,
		State:       rec.State,
		Message:     rec.Message,
		Asked:       rec.Asked,
		PresenceKey: rec.presenceKey(),
		Created:     rec.Created,
		Updated:     rec.Updated,
	}, nil
}

// PutContact creates or replaces the contact c.AccountID. The store sets
// Updated to now, and Created to now on the first put (keeping the stored
// Created afterwards); the values in c are ignored. A stored record that
// cannot be decoded is replaced. It returns ErrInvalid for a zero account
// ID, an unknown state or oversized text.
func (s *Store) PutContact(c Contact) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("store: put contact: %w", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error { return s.putContactTx(tx, c) })
	if err != nil {
		return fmt.Errorf("store: put contact %q: %w", c.AccountID, err)
	}
	return nil
}

// putContactTx writes c (validated) in tx, keeping a stored Created.
func (s *Store) putContactTx(tx *bolt.Tx, c Contact) error {
	now := s.now().UTC().Round(0)
	rec := contactRecord{
		V:       recordVersion,
		Name:    c.Name,
		State:   c.State,
		Message: c.Message,
		Asked:   c.Asked.UTC().Round(0),
		Created: now,
		Updated: now,
	}
	b, err := bucket(tx, bucketContacts)
	if err != nil {
		return err
	}
	key := accountKey(c.AccountID)
	if raw := b.Get(key); raw != nil {
		// A record that no longer decodes is replaced rather than
		// blocking every future update of this contact.
		if old, err := decodeContact(c.AccountID, raw); err == nil {
			rec.Created = old.Created
			rec.setPresenceKey(old.PresenceKey)
		}
	}
	rec.setPresenceKey(c.PresenceKey)
	return putJSON(b, key, &rec)
}

// Contact returns one contact, or ErrNotFound.
func (s *Store) Contact(accountID crypto.AccountID) (Contact, error) {
	var c Contact
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketContacts)
		if err != nil {
			return err
		}
		raw := b.Get(accountKey(accountID))
		if raw == nil {
			return ErrNotFound
		}
		c, err = decodeContact(accountID, raw)
		return err
	})
	if err != nil {
		return Contact{}, fmt.Errorf("store: contact %s: %w", accountID, err)
	}
	return c, nil
}

// Contacts returns all contacts sorted by the text form of AccountID (byte
// order). It fails with ErrCorrupt if any stored contact, or its key,
// cannot be decoded.
func (s *Store) Contacts() ([]Contact, error) {
	var cs []Contact
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketContacts)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			id, err := parseAccountKey(k)
			if err != nil {
				return err
			}
			c, err := decodeContact(id, v)
			if err != nil {
				return fmt.Errorf("contact %q: %w", k, err)
			}
			cs = append(cs, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	return cs, nil
}

// DeleteContact removes a contact. It returns ErrNotFound when there is
// none.
func (s *Store) DeleteContact(accountID crypto.AccountID) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketContacts)
		if err != nil {
			return err
		}
		if b.Get(accountKey(accountID)) == nil {
			return ErrNotFound
		}
		return s.deleteContactTx(tx, accountID)
	})
	if err != nil {
		return fmt.Errorf("store: delete contact %s: %w", accountID, err)
	}
	return nil
}

// ContactChange is one user-visible change of a contact, applied in one
// transaction so that a crash never splits it (a contact in request-sent
// with no request queued, say).
type ContactChange struct {
	// AccountID is the contact's account; never zero.
	AccountID crypto.AccountID
	// Contact is the new record; nil deletes the contact (no error if
	// there is none).
	Contact *Contact
	// Send, when set, is queued as the pending message to AccountID,
	// replacing any other.
	Send *OutboxItem
	// ClearOutbox drops any pending message to AccountID (before Send is
	// queued).
	ClearOutbox bool
}

// ApplyContactChange applies ch atomically.
func (s *Store) ApplyContactChange(ch ContactChange) error {
	if err := checkAccount("account ID", ch.AccountID); err != nil {
		return fmt.Errorf("store: contact change: %w", err)
	}
	if ch.Contact != nil {
		if ch.Contact.AccountID != ch.AccountID {
			return fmt.Errorf("store: contact change: %w: record for %s under %s", ErrInvalid, ch.Contact.AccountID, ch.AccountID)
		}
		if err := ch.Contact.validate(); err != nil {
			return fmt.Errorf("store: contact change: %w", err)
		}
	}
	var out *outboxRecord
	if ch.Send != nil {
		ch.Send.To = ch.AccountID
		rec, err := s.newOutboxRecord(ch.Send)
		if err != nil {
			return fmt.Errorf("store: contact change: %w", err)
		}
		out = rec
	}
	key := accountKey(ch.AccountID)
	err := s.db.Update(func(tx *bolt.Tx) error {
		if ch.Contact != nil {
			if err := s.putContactTx(tx, *ch.Contact); err != nil {
				return err
			}
		} else {
			if err := s.deleteContactTx(tx, ch.AccountID); err != nil {
				return err
			}
		}
		ob, err := bucket(tx, bucketOutbox)
		if err != nil {
			return err
		}
		if ch.ClearOutbox {
			if err := ob.Delete(key); err != nil {
				return err
			}
		}
		if out != nil {
			return putJSON(ob, key, out)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: contact change %s: %w", ch.AccountID, err)
	}
	return nil
}

// deleteContactTx deletes a contact in tx (no error if there is none). A
// contact that had received a request leaves a sync tombstone carrying the
// request's time at once, so that the deletion (a declined request) is an
// answer that another device's copy of the request does not undo, even when
// the contact was deleted before its state was ever synced.
func (s *Store) deleteContactTx(tx *bolt.Tx, id crypto.AccountID) error {
	b, err := bucket(tx, bucketContacts)
	if err != nil {
		return err
	}
	key := accountKey(id)
	raw := b.Get(key)
	if raw == nil {
		return nil
	}
	c, decErr := decodeContact(id, raw)
	if err := b.Delete(key); err != nil {
		return err
	}
	if decErr != nil || c.Asked.IsZero() {
		return nil
	}
	st, err := s.beginSync(tx)
	if err != nil {
		return err
	}
	skey := SyncContactKey(id)
	prev := st.entries[skey]
	if prev.Deleted {
		return nil
	}
	t := max(s.now().UnixNano(), st.maxT+1)
	return putSyncEntry(st.sync, SyncEntry{Key: skey, Time: t, Device: prev.Device, Deleted: true, Asked: c.Asked.UnixNano()})
}
