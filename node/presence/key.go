package presence

import (
	"errors"
	"fmt"

	ma "github.com/multiformats/go-multiaddr"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/store"
)

// The account's presence key (docs/protocol.md, "Presence for contacts
// only"): this device seals its presence records under it, and its own
// devices and accepted contacts open them. The service holds the newest
// key the store holds, in memory, so that publishing and resolving cost
// no argon2id run when the keys are sealed.

// loadPresenceKey reads the account's presence key, making the first one
// (generation 1) on an account that has none yet (one created before
// presence keys; a linked or new device brings one). It reports whether
// it made one.
func loadPresenceKey(st *store.Store) (store.PresenceKey, bool, error) {
	k, err := st.PresenceKey()
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.PresenceKey{}, false, err
	}
	if k, err = store.NewPresenceKey(1); err != nil {
		return store.PresenceKey{}, false, err
	}
	if _, err := st.TakePresenceKey(k); err != nil {
		return store.PresenceKey{}, false, err
	}
	return k, true, nil
}

// KeyMadeAtStart reports whether this run made the account's first
// presence key (an account made before presence keys): its accepted
// contacts, which never got one in an accept, are then sent it.
func (svc *Service) KeyMadeAtStart() bool { return svc.keyMade }

// PresenceKey returns the account's presence key this device seals its
// presence records under. Secret: never log it.
func (svc *Service) PresenceKey() store.PresenceKey {
	svc.keyMu.Lock()
	defer svc.keyMu.Unlock()
	return svc.key
}

// TakePresenceKey takes a presence key of this account from another of
// its devices (sync): kept when newer than the one held (store.PresenceKey
// Newer), and then the next presence record is sealed under it. It
// reports whether it was taken.
func (svc *Service) TakePresenceKey(k store.PresenceKey) (bool, error) {
	svc.keyMu.Lock()
	defer svc.keyMu.Unlock()
	if !k.Newer(svc.key) {
		return false, nil
	}
	taken, err := svc.Store.TakePresenceKey(k)
	if err != nil || !taken {
		return false, err
	}
	svc.key = k
	svc.PublishNow()
	return true, nil
}

// RotatePresenceKey draws a new presence key, one generation above the
// held one, stores it, and has the next presence record sealed under it:
// what a removal or a block does, so that the removed account cannot open
// records published from now on. The caller sends it to the remaining
// contacts and the account's devices.
func (svc *Service) RotatePresenceKey() (store.PresenceKey, error) {
	svc.keyMu.Lock()
	defer svc.keyMu.Unlock()
	k, err := store.NewPresenceKey(svc.key.Gen + 1)
	if err != nil {
		return store.PresenceKey{}, err
	}
	if _, err := svc.Store.TakePresenceKey(k); err != nil {
		return store.PresenceKey{}, fmt.Errorf("rotate presence key: %w", err)
	}
	svc.key = k
	svc.Log.Info("presence key rotated", "generation", k.Gen)
	svc.PublishNow()
	return k, nil
}

// sealKey returns k as the records package's key type.
func sealKey(k store.PresenceKey) *records.PresenceSealKey {
	sk := records.PresenceSealKey(k.Key)
	return &sk
}

// keyFor returns the presence key this device holds for account: its own
// for its own account, the newest a contact sent for a contact; zero when
// it holds none.
func (svc *Service) keyFor(account pcrypto.AccountID) store.PresenceKey {
	if account == svc.ID.AccountCert.ID {
		return svc.PresenceKey()
	}
	c, err := svc.Store.Contact(account)
	if err != nil {
		return store.PresenceKey{}
	}
	return c.PresenceKey
}

// openPresence makes p's Addrs the addresses this device may use: for a
// version-2 record sealed under a key it holds, the sealed addresses
// followed by the relay addresses in clear; sealed under a key it does not
// hold, the relay addresses only (a stranger, a removed contact, or a
// contact that has not taken the account's newest key yet). A record
// whose key ID names the key held but whose box does not open is refused.
func (svc *Service) openPresence(p *records.Presence) error {
	if p.Version != 2 {
		return nil
	}
	k := svc.keyFor(p.Account)
	if k.IsZero() {
		return nil
	}
	sk := sealKey(k)
	if sk.ID() != p.KeyID {
		svc.Log.Debug("presence sealed under a key this device does not hold; relay addresses only", "device", p.Device.Short())
		return nil
	}
	addrs, err := p.Open(sk)
	if err != nil {
		return err
	}
	p.Addrs = append(addrs[:len(addrs):len(addrs)], p.Addrs...)
	return nil
}

// splitAddrs splits the addresses to publish into relay addresses (at
// most records.MaxRelayAddrs, in clear in a version-2 record) and the
// others (sealed).
func splitAddrs(addrs []ma.Multiaddr) (relays, others []ma.Multiaddr) {
	for _, a := range addrs {
		if IsRelayAddr(a) {
			if len(relays) < records.MaxRelayAddrs {
				relays = append(relays, a)
			}
			continue
		}
		others = append(others, a)
	}
	return relays, others
}
