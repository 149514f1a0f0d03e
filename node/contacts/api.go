package contacts

import (
	"errors"
	"fmt"

	"github.com/parleyhq/parley/node/service"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// ErrNoContact is returned for an operation on an account that is not in
// the contact list.
var ErrNoContact = errors.New("not in the contact list")

// CanonicalAccount parses an account ID typed by a user.
func (svc *Service) CanonicalAccount(s string) (string, error) {
	id, err := pcrypto.ParseAccountID(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", service.ErrInvalidInput, err)
	}
	if id == svc.id.AccountCert.ID {
		return "", fmt.Errorf("%w: that is this node's own account", service.ErrInvalidInput)
	}
	return id.String(), nil
}

func checkLengths(name, message string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: name is %d bytes, at most %d", service.ErrInvalidInput, len(name), maxNameLen)
	}
	if len(message) > maxMessageLen {
		return fmt.Errorf("%w: message is %d bytes, at most %d", service.ErrInvalidInput, len(message), maxMessageLen)
	}
	return nil
}

// contact returns the stored contact for a canonical account ID.
func (svc *Service) contact(id string) (store.Contact, bool, error) {
	c, err := svc.st.Contact(id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Contact{}, false, nil
	}
	return c, err == nil, err
}

// AddContact sends a contact request to an account (kept and retried until
// delivered). Adding an account that already asked us accepts it.
func (svc *Service) AddContact(account, name, message string) (*apitype.Contact, error) {
	id, err := svc.CanonicalAccount(account)
	if err != nil {
		return nil, err
	}
	if err := checkLengths(name, message); err != nil {
		return nil, err
	}
	c, ok, err := svc.contact(id)
	if err != nil {
		return nil, err
	}
	switch {
	case ok && c.State == store.Accepted:
		return nil, fmt.Errorf("%w: %s is already a contact", service.ErrConflict, id)
	case ok && c.State == store.Blocked:
		return nil, fmt.Errorf("%w: %s is blocked; remove it first (parley contact remove)", service.ErrConflict, id)
	case ok && c.State == store.RequestReceived:
		if name != "" {
			c.Name = name
		}
		return svc.accept(c)
	}
	c = store.Contact{AccountID: id, Name: name, State: store.RequestSent, Message: message}
	if err := svc.st.PutContact(c); err != nil {
		return nil, err
	}
	if err := svc.enqueue(id, kindRequest, svc.id.DeviceCert.Name, message); err != nil {
		return nil, err
	}
	return svc.apiContact(id)
}

// AcceptContact accepts a received contact request.
func (svc *Service) AcceptContact(account string) (*apitype.Contact, error) {
	c, err := svc.mustContact(account, store.RequestReceived)
	if err != nil {
		return nil, err
	}
	return svc.accept(c)
}

func (svc *Service) accept(c store.Contact) (*apitype.Contact, error) {
	c.State = store.Accepted
	if err := svc.st.PutContact(c); err != nil {
		return nil, err
	}
	if err := svc.enqueue(c.AccountID, kindAccept, svc.id.DeviceCert.Name, ""); err != nil {
		return nil, err
	}
	svc.ev.Publish(apitype.Event{Type: apitype.EventContactAccepted, Time: svc.o.Now(), Account: c.AccountID})
	return svc.apiContact(c.AccountID)
}

// DeclineContact declines a received request and tells the requester.
func (svc *Service) DeclineContact(account string) error {
	c, err := svc.mustContact(account, store.RequestReceived)
	if err != nil {
		return err
	}
	if err := svc.st.DeleteContact(c.AccountID); err != nil {
		return err
	}
	return svc.enqueue(c.AccountID, kindDecline, "", "")
}

// BlockContact blocks an account: its requests are dropped from now on and
// nothing more is sent to it.
func (svc *Service) BlockContact(account string) (*apitype.Contact, error) {
	id, err := svc.CanonicalAccount(account)
	if err != nil {
		return nil, err
	}
	c, _, err := svc.contact(id)
	if err != nil {
		return nil, err
	}
	c.AccountID, c.State = id, store.Blocked
	if err := svc.st.PutContact(c); err != nil {
		return nil, err
	}
	if err := svc.st.DeleteOutbox(id, ""); err != nil {
		return nil, err
	}
	return svc.apiContact(id)
}

// RemoveContact forgets an account (and any message still queued to it).
func (svc *Service) RemoveContact(account string) error {
	id, err := svc.CanonicalAccount(account)
	if err != nil {
		return err
	}
	if _, ok, err := svc.contact(id); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: %s", ErrNoContact, id)
	}
	if err := svc.st.DeleteOutbox(id, ""); err != nil {
		return err
	}
	return svc.st.DeleteContact(id)
}

// mustContact returns the contact for account, which must be in state want.
func (svc *Service) mustContact(account string, want store.ContactState) (store.Contact, error) {
	id, err := svc.CanonicalAccount(account)
	if err != nil {
		return store.Contact{}, err
	}
	c, ok, err := svc.contact(id)
	if err != nil {
		return c, err
	}
	if !ok {
		return c, fmt.Errorf("%w: %s", ErrNoContact, id)
	}
	if c.State != want {
		return c, fmt.Errorf("%w: %s is %s, not %s", service.ErrConflict, id, c.State, want)
	}
	return c, nil
}

// Contacts lists the contacts, marking those with a message awaiting
// delivery.
func (svc *Service) Contacts() ([]apitype.Contact, error) {
	cs, err := svc.st.Contacts()
	if err != nil {
		return nil, err
	}
	pending, err := svc.pendingSet()
	if err != nil {
		return nil, err
	}
	out := make([]apitype.Contact, 0, len(cs))
	for _, c := range cs {
		out = append(out, toAPIContact(c, pending[c.AccountID]))
	}
	return out, nil
}

func (svc *Service) apiContact(id string) (*apitype.Contact, error) {
	c, err := svc.st.Contact(id)
	if err != nil {
		return nil, err
	}
	pending, err := svc.pendingSet()
	if err != nil {
		return nil, err
	}
	ac := toAPIContact(c, pending[id])
	return &ac, nil
}

func (svc *Service) pendingSet() (map[string]bool, error) {
	items, err := svc.st.Outbox()
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it.To] = true
	}
	return m, nil
}

func toAPIContact(c store.Contact, pending bool) apitype.Contact {
	return apitype.Contact{
		AccountID: c.AccountID, Name: c.Name, State: string(c.State), Message: c.Message,
		Pending: pending, Created: c.Created, Updated: c.Updated,
	}
}

// RenameContact changes the local name of a contact (replicated to the
// account's other devices).
func (svc *Service) RenameContact(account, name string) (*apitype.Contact, error) {
	id, err := svc.CanonicalAccount(account)
	if err != nil {
		return nil, err
	}
	if err := checkLengths(name, ""); err != nil {
		return nil, err
	}
	c, ok, err := svc.contact(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoContact, id)
	}
	c.Name = name
	if err := svc.st.PutContact(c); err != nil {
		return nil, err
	}
	svc.changed()
	return svc.apiContact(id)
}
