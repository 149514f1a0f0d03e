package node

import (
	"errors"
	"fmt"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// ErrConflict is returned for an operation the contact's state does not
// allow (accepting a request that was never received, say); the wrapping
// error says what state it is in.
var ErrConflict = errors.New("not allowed in the contact's current state")

// ErrNoContact is returned for an operation on an account that is not in
// the contact list.
var ErrNoContact = errors.New("not in the contact list")

// canonicalAccount parses an account ID typed by a user.
func (n *Node) canonicalAccount(s string) (string, error) {
	id, err := pcrypto.ParseAccountID(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if id == n.id.AccountCert.ID {
		return "", fmt.Errorf("%w: that is this node's own account", ErrInvalidInput)
	}
	return id.String(), nil
}

func checkLengths(name, message string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: name is %d bytes, at most %d", ErrInvalidInput, len(name), maxNameLen)
	}
	if len(message) > maxMessageLen {
		return fmt.Errorf("%w: message is %d bytes, at most %d", ErrInvalidInput, len(message), maxMessageLen)
	}
	return nil
}

// contact returns the stored contact for a canonical account ID.
func (n *Node) contact(id string) (store.Contact, bool, error) {
	c, err := n.st.Contact(id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Contact{}, false, nil
	}
	return c, err == nil, err
}

// AddContact sends a contact request to an account (kept and retried until
// delivered). Adding an account that already asked us accepts it.
func (n *Node) AddContact(account, name, message string) (*apitype.Contact, error) {
	id, err := n.canonicalAccount(account)
	if err != nil {
		return nil, err
	}
	if err := checkLengths(name, message); err != nil {
		return nil, err
	}
	c, ok, err := n.contact(id)
	if err != nil {
		return nil, err
	}
	switch {
	case ok && c.State == store.Accepted:
		return nil, fmt.Errorf("%w: %s is already a contact", ErrConflict, id)
	case ok && c.State == store.Blocked:
		return nil, fmt.Errorf("%w: %s is blocked; remove it first (parley contact remove)", ErrConflict, id)
	case ok && c.State == store.RequestReceived:
		if name != "" {
			c.Name = name
		}
		return n.accept(c)
	}
	c = store.Contact{AccountID: id, Name: name, State: store.RequestSent, Message: message}
	if err := n.st.PutContact(c); err != nil {
		return nil, err
	}
	if err := n.enqueue(id, kindRequest, n.id.DeviceCert.Name, message); err != nil {
		return nil, err
	}
	return n.apiContact(id)
}

// AcceptContact accepts a received contact request.
func (n *Node) AcceptContact(account string) (*apitype.Contact, error) {
	c, err := n.mustContact(account, store.RequestReceived)
	if err != nil {
		return nil, err
	}
	return n.accept(c)
}

func (n *Node) accept(c store.Contact) (*apitype.Contact, error) {
	c.State = store.Accepted
	if err := n.st.PutContact(c); err != nil {
		return nil, err
	}
	if err := n.enqueue(c.AccountID, kindAccept, n.id.DeviceCert.Name, ""); err != nil {
		return nil, err
	}
	n.ev.publish(apitype.Event{Type: apitype.EventContactAccepted, Time: n.o.Now(), Account: c.AccountID})
	return n.apiContact(c.AccountID)
}

// DeclineContact declines a received request and tells the requester.
func (n *Node) DeclineContact(account string) error {
	c, err := n.mustContact(account, store.RequestReceived)
	if err != nil {
		return err
	}
	if err := n.st.DeleteContact(c.AccountID); err != nil {
		return err
	}
	return n.enqueue(c.AccountID, kindDecline, "", "")
}

// BlockContact blocks an account: its requests are dropped from now on and
// nothing more is sent to it.
func (n *Node) BlockContact(account string) (*apitype.Contact, error) {
	id, err := n.canonicalAccount(account)
	if err != nil {
		return nil, err
	}
	c, _, err := n.contact(id)
	if err != nil {
		return nil, err
	}
	c.AccountID, c.State = id, store.Blocked
	if err := n.st.PutContact(c); err != nil {
		return nil, err
	}
	if err := n.st.DeleteOutbox(id, ""); err != nil {
		return nil, err
	}
	return n.apiContact(id)
}

// RemoveContact forgets an account (and any message still queued to it).
func (n *Node) RemoveContact(account string) error {
	id, err := n.canonicalAccount(account)
	if err != nil {
		return err
	}
	if _, ok, err := n.contact(id); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: %s", ErrNoContact, id)
	}
	if err := n.st.DeleteOutbox(id, ""); err != nil {
		return err
	}
	return n.st.DeleteContact(id)
}

// mustContact returns the contact for account, which must be in state want.
func (n *Node) mustContact(account string, want store.ContactState) (store.Contact, error) {
	id, err := n.canonicalAccount(account)
	if err != nil {
		return store.Contact{}, err
	}
	c, ok, err := n.contact(id)
	if err != nil {
		return c, err
	}
	if !ok {
		return c, fmt.Errorf("%w: %s", ErrNoContact, id)
	}
	if c.State != want {
		return c, fmt.Errorf("%w: %s is %s, not %s", ErrConflict, id, c.State, want)
	}
	return c, nil
}

// Contacts lists the contacts, marking those with a message awaiting
// delivery.
func (n *Node) Contacts() ([]apitype.Contact, error) {
	cs, err := n.st.Contacts()
	if err != nil {
		return nil, err
	}
	pending, err := n.pendingSet()
	if err != nil {
		return nil, err
	}
	out := make([]apitype.Contact, 0, len(cs))
	for _, c := range cs {
		out = append(out, toAPIContact(c, pending[c.AccountID]))
	}
	return out, nil
}

func (n *Node) apiContact(id string) (*apitype.Contact, error) {
	c, err := n.st.Contact(id)
	if err != nil {
		return nil, err
	}
	pending, err := n.pendingSet()
	if err != nil {
		return nil, err
	}
	ac := toAPIContact(c, pending[id])
	return &ac, nil
}

func (n *Node) pendingSet() (map[string]bool, error) {
	items, err := n.st.Outbox()
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
