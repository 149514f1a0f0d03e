package dhtstore

import (
	"crypto/sha256"
	"strings"
	"time"

	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
)

// kind is what a stored value holds.
type kind uint8

const (
	kindOther    kind = iota // not a Parley record this store can read
	kindAccount              // an account record
	kindPresence             // a presence record
	kindBlinded              // a blinded account or presence record
)

// meta is what the store knows of a record, from its bytes.
type meta struct {
	recKey  string // the record's DHT key
	vhash   valueHash
	kind    kind
	account crypto.AccountID  // the account (kindAccount, kindPresence; none for kindBlinded)
	device  crypto.DeviceID   // the device (kindPresence)
	listed  []crypto.DeviceID // the devices the record lists (kindAccount)
	expires time.Time         // zero for kindOther
}

// valueHash identifies a record's value (16 bytes of SHA-256).
type valueHash [16]byte

func hashValue(v []byte) valueHash {
	sum := sha256.Sum256(v)
	return valueHash(sum[:16])
}

// inspect reads a datastore value as kad-dht's ValueStore writes it: a
// record protobuf around a Parley record. The DHT's validator has already
// accepted the record; a value this cannot read (another writer, a record
// that expired in between) is kindOther, which is never live.
func inspect(value []byte, now time.Time) meta {
	var rec recpb.Record
	if err := proto.Unmarshal(value, &rec); err != nil {
		return meta{}
	}
	m := meta{recKey: string(rec.GetKey()), vhash: hashValue(rec.GetValue())}
	ns, _, _ := strings.Cut(strings.TrimPrefix(m.recKey, "/"), "/")
	switch ns {
	case records.AccountNamespace:
		a, err := records.ParseAccount(m.recKey, rec.GetValue(), now)
		if err != nil {
			return m
		}
		m.kind, m.account, m.expires = kindAccount, a.Cert.ID, a.Expires
		for _, dc := range a.Devices {
			m.listed = append(m.listed, dc.Device)
		}
	case records.PresenceNamespace:
		p, err := records.ParsePresence(m.recKey, rec.GetValue(), now)
		if err != nil {
			return m
		}
		m.kind, m.account, m.device, m.expires = kindPresence, p.Account, p.Device, p.Expires
	case records.BlindAccountNamespace, records.BlindPresenceNamespace:
		// Whose record it is, the store cannot tell (that is the point),
		// so it is never live; its expiry still sweeps it out.
		parse := records.ParseBlindAccount
		if ns == records.BlindPresenceNamespace {
			parse = records.ParseBlindPresence
		}
		b, err := parse(m.recKey, rec.GetValue(), now)
		if err != nil {
			return m
		}
		m.kind, m.expires = kindBlinded, b.Expires
	}
	return m
}
