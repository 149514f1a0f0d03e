package contacts

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/parleyhq/parley/node/service"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// ErrNoContact is returned for an operation on an account that is not in
// the contact list.
var ErrNoContact = errors.New("not in the contact list")

// CheckOther refuses the zero account ID and this node's own account as
// the other side of a contact or an invitation.
func (svc *Service) CheckOther(id pcrypto.AccountID) error {
	switch {
	case id.IsZero():
		return fmt.Errorf("%w: no account ID", service.ErrInvalidInput)
	case id == svc.ID.AccountCert.ID:
		return fmt.Errorf("%w: that is this node's own account", service.ErrInvalidInput)
	}
	return nil
}

func checkLengths(name, message string) error {
	if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%w: the name has a control character at byte %d (names are one line of text)", service.ErrInvalidInput, i)
	}
	if i := strings.IndexFunc(message, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }); i >= 0 {
		return fmt.Errorf("%w: the message has a control character at byte %d", service.ErrInvalidInput, i)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: name is %d bytes, at most %d", service.ErrInvalidInput, len(name), maxNameLen)
	}
	if len(message) > maxMessageLen {
		return fmt.Errorf("%w: message is %d bytes, at most %d", service.ErrInvalidInput, len(message), maxMessageLen)
	}
	return nil
}

// contact returns the stored contact of an account.
func (svc *Service) contact(id pcrypto.AccountID) (store.Contact, bool, error) {
	c, err := svc.Store.Contact(id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Contact{}, false, nil
	}
	return c, err == nil, err
}

// AddContact sends a contact request to an account (kept and retried until
// delivered). Adding an account that already asked us accepts it.
func (svc *Service) AddContact(id pcrypto.AccountID, name, message string) (*apitype.Contact, error) {
	if err := svc.CheckOther(id); err != nil {
		return nil, err
	}
	if err := checkLengths(name, message); err != nil {
		return nil, err
	}
	if _, err := svc.apply(id, APIAdd, name, message, time.Time{}, store.PresenceKey{}); err != nil {
		return nil, err
	}
	return svc.apiContact(id)
}

// AcceptContact accepts a received contact request.
func (svc *Service) AcceptContact(account pcrypto.AccountID) (*apitype.Contact, error) {
	return svc.act(account, APIAccept)
}

// DeclineContact declines a received request and tells the requester.
func (svc *Service) DeclineContact(account pcrypto.AccountID) error {
	_, err := svc.act(account, APIDecline)
	return err
}

// BlockContact blocks an account: its requests are dropped from now on and
// nothing more is sent to it.
func (svc *Service) BlockContact(account pcrypto.AccountID) (*apitype.Contact, error) {
	return svc.act(account, APIBlock)
}

// RemoveContact forgets an account (and any message still queued to it);
// an accepted contact is told.
func (svc *Service) RemoveContact(account pcrypto.AccountID) error {
	_, err := svc.act(account, APIRemove)
	return err
}

// act applies a user's action without text to the contact of account and
// returns the contact afterwards (nil when it is gone).
func (svc *Service) act(id pcrypto.AccountID, in Input) (*apitype.Contact, error) {
	if err := svc.CheckOther(id); err != nil {
		return nil, err
	}
	t, err := svc.apply(id, in, "", "", time.Time{}, store.PresenceKey{})
	if err != nil {
		return nil, err
	}
	if t.Next == StateNone {
		return nil, nil
	}
	return svc.apiContact(id)
}

// peek returns the transition in would take now, without taking it; a
// refusal comes back as the error apply would return.
func (svc *Service) peek(id pcrypto.AccountID, in Input) (Transition, error) {
	_, state, err := svc.current(id)
	if err != nil {
		return Transition{}, err
	}
	t := Step(state, in)
	if t.Outcome == Refuse {
		return t, refusal(id, state, in, t)
	}
	return t, nil
}

// current loads the contact of id and its state (StateNone when absent).
func (svc *Service) current(id pcrypto.AccountID) (store.Contact, State, error) {
	c, ok, err := svc.contact(id)
	if err != nil {
		return c, "", err
	}
	if !ok {
		return store.Contact{AccountID: id}, StateNone, nil
	}
	return c, c.State, nil
}

// refusal is the error for a refused transition: for the API ErrNoContact
// or ErrConflict, for a message a refusal with code "unexpected".
func refusal(id pcrypto.AccountID, state State, in Input, t Transition) error {
	if !in.fromAPI() {
		return &service.Refused{Code: "unexpected", Reason: t.Why}
	}
	if state == StateNone {
		return fmt.Errorf("%w: %s", ErrNoContact, id)
	}
	return fmt.Errorf("%w: %s is %s: %s", service.ErrConflict, id, state, t.Why)
}

// apply moves the contact of id by in. It is the one place where contact
// state changes: the new record, the message queued to the other account
// and the dropped queue are one store transaction; the event follows it.
// name and message are the request's texts (API add: our local name for
// the contact and the request message; a received request: the sender's
// device name and message); asked is a received request's signed time
// (zero otherwise), kept with the contact so that an answer made here is
// not undone by another device's copy of the request (store.MergeSync).
// pk is the presence key a received accept carried (zero otherwise): it
// is kept with the contact, and the accept is answered with an update
// carrying this account's own key. Removing or blocking an account that
// may hold this account's presence key rotates it (rotateLocked).
func (svc *Service) apply(id pcrypto.AccountID, in Input, name, message string, asked time.Time, pk store.PresenceKey) (Transition, error) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	cur, state, err := svc.current(id)
	if err != nil {
		return Transition{}, err
	}
	t := Step(state, in)
	switch t.Outcome {
	case Refuse:
		return t, refusal(id, state, in, t)
	case Ignore:
		return t, nil
	}
	if in == MsgRequest && state == StateNone {
		if err := svc.makeRoomForRequest(); err != nil {
			return t, err
		}
	}
	ch := store.ContactChange{AccountID: id, ClearOutbox: t.Next == StateNone || t.Next == StateBlocked}
	if !in.fromAPI() && t.Send == "" {
		// A message from the account that moves the contact supersedes
		// what we still hold queued for it: they sent it after ours
		// arrived (its acknowledgement lost when we were killed) or
		// ours is moot. Delivered late, ours would undo their newer
		// step: a stale "remove" turns their new request into
		// "declined". (A move that answers queues the answer instead,
		// which replaces ours.)
		ch.ClearOutbox = true
	}
	if t.Next != StateNone {
		next := cur
		next.State = t.Next
		switch in {
		case APIAdd:
			if name != "" {
				next.Name = name
			}
			if t.Next == StateRequestSent {
				next.Message = message
			}
		case MsgAccept:
			// The acceptor's presence key; ours goes back in an
			// update (queued below), so that each side opens the
			// other's presence records.
			next.PresenceKey = pk
		case MsgRequest:
			// A request that does not change the state (an accepted
			// contact asking again) changes nothing: a new version of
			// the contact would race the user's own changes on the
			// other devices (a block, say).
			if t.Next != state {
				next.Message, next.Asked = message, asked
			}
			if next.Name == "" {
				next.Name = name
			}
		}
		ch.Contact = &next
	}
	if t.Send != "" {
		it := store.OutboxItem{Kind: t.Send}
		switch t.Send {
		case kindRequest:
			it.Name, it.Message = svc.ID.DeviceCert.Name, message
		case kindAccept:
			it.Name = svc.ID.DeviceCert.Name
		}
		ch.Send = &it
	}
	if err := svc.Store.ApplyContactChange(ch); err != nil {
		return t, err
	}
	if (in == APIRemove || in == APIBlock) && (state == StateAccepted || state == StateRemoved) {
		// The account held our presence key (a removed one may still
		// hold it after removing us): records from now on are sealed
		// under a new one that it does not get.
		if err := svc.rotateLocked(); err != nil {
			svc.Log.Error("rotating the presence key failed; the removed contact can still read this device's presence", "err", err)
		}
	}
	if ch.Send != nil {
		service.Kick(svc.outboxKick)
	}
	if t.Event != "" {
		svc.Events.Publish(apitype.Event{Type: t.Event, Time: svc.Now(), Account: id.String(), Message: message})
	}
	if state == StateAccepted && t.Next != StateAccepted && svc.o.NoLongerAccepted != nil {
		go svc.o.NoLongerAccepted(id)
	}
	return t, nil
}

// Contacts lists the contacts, marking those with a message awaiting
// delivery.
func (svc *Service) Contacts() ([]apitype.Contact, error) {
	cs, err := svc.Store.Contacts()
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

func (svc *Service) apiContact(id pcrypto.AccountID) (*apitype.Contact, error) {
	c, err := svc.Store.Contact(id)
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

func (svc *Service) pendingSet() (map[pcrypto.AccountID]bool, error) {
	items, err := svc.Store.Outbox()
	if err != nil {
		return nil, err
	}
	m := make(map[pcrypto.AccountID]bool, len(items))
	for _, it := range items {
		m[it.To] = true
	}
	return m, nil
}

func toAPIContact(c store.Contact, pending bool) apitype.Contact {
	return apitype.Contact{
		AccountID: c.AccountID.String(), Name: c.Name, State: string(c.State), Message: c.Message,
		Pending: pending, Created: c.Created, Updated: c.Updated,
	}
}

// RenameContact changes the local name of a contact (replicated to the
// account's other devices).
func (svc *Service) RenameContact(id pcrypto.AccountID, name string) (*apitype.Contact, error) {
	if err := svc.CheckOther(id); err != nil {
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
	if err := svc.Store.PutContact(c); err != nil {
		return nil, err
	}
	svc.changed()
	return svc.apiContact(id)
}

// makeRoomForRequest drops the oldest pending received requests until a new
// one fits within MaxPendingRequests. The caller holds svc.mu.
func (svc *Service) makeRoomForRequest() error {
	cs, err := svc.Store.Contacts()
	if err != nil {
		return err
	}
	var pending []store.Contact
	for _, c := range cs {
		if c.State == StateRequestReceived {
			pending = append(pending, c)
		}
	}
	if len(pending) < svc.o.MaxPendingRequests {
		return nil
	}
	slices.SortFunc(pending, func(a, b store.Contact) int { return a.Updated.Compare(b.Updated) })
	for _, c := range pending[:len(pending)-svc.o.MaxPendingRequests+1] {
		if err := svc.Store.ApplyContactChange(store.ContactChange{AccountID: c.AccountID, ClearOutbox: true}); err != nil {
			return err
		}
		svc.droppedRequests.Add(1)
		svc.Log.Info("pending contact request dropped to make room", "account", c.AccountID, "max", svc.o.MaxPendingRequests)
	}
	return nil
}
