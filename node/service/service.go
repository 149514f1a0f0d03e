// Package service holds what every Parley protocol service shares: the
// environment a service is built from (Env), the node's event fan-out, the
// sentinel errors the local API maps to status codes, and the one-message
// request/reply exchange that the contact and conference protocols use.
//
// The services themselves live in the packages beside this one, each the
// whole life of one protocol, and depend one way:
//
//	account ← presence ← contacts ← devices ← calls
//
// Package node builds the libp2p host, the DHT and the store, makes one
// Env, constructs the services in that order and supervises them.
package service

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/store"
)

// Env is what the node gives every service. All fields are required.
type Env struct {
	// Host is the device's libp2p host; services register their stream
	// handlers on it in Serve and remove them when Serve returns.
	Host host.Host
	// DHT is the node's Kademlia DHT (rendezvous records).
	DHT *dht.IpfsDHT
	// Store is the node's bbolt store.
	Store *store.Store
	// ID is the identity the node runs as. It is wiped when the node
	// closes.
	ID *account.Identity
	// Log receives the service's logs.
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// Events is the node's event fan-out (the local API's event stream).
	Events *Events
}

// Validate reports a missing field.
func (e *Env) Validate() error {
	switch {
	case e.Host == nil:
		return errors.New("service: Env.Host is required")
	case e.DHT == nil:
		return errors.New("service: Env.DHT is required")
	case e.Store == nil:
		return errors.New("service: Env.Store is required")
	case e.ID == nil:
		return errors.New("service: Env.ID is required")
	case e.Log == nil:
		return errors.New("service: Env.Log is required")
	case e.Now == nil:
		return errors.New("service: Env.Now is required")
	case e.Events == nil:
		return errors.New("service: Env.Events is required")
	}
	return nil
}

// Kick wakes a loop through its buffered (capacity 1) channel without
// blocking.
func Kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Refused is a reason a peer gave (or is given) for refusing a message.
type Refused struct {
	// Code is "invalid" (the message is malformed, forged or not allowed
	// from this sender), "unexpected" (not allowed in the current state)
	// or "busy" (try again).
	Code string
	// Reason says why, in words for the sender's user.
	Reason string
}

func (e *Refused) Error() string { return fmt.Sprintf("refused (%s): %s", e.Code, e.Reason) }

// Permanent reports whether retrying the same message cannot help.
func (e *Refused) Permanent() bool { return e.Code == "invalid" || e.Code == "unexpected" }
