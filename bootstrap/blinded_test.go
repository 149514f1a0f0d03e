package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/parleyhq/parley/internal/records"
	ptest "github.com/parleyhq/parley/test"
)

// TestBlindedRecordsAcrossServers: blinded account and presence records
// (issue 18 item 3) travel through three real bootstraps' DHT; a reader who
// knows the account's public key (and, for presence, the presence key)
// finds and opens them from another server; forged ones are refused even
// when a rogue client pushes them; and what the servers store names no
// account, device or key.
func TestBlindedRecordsAcrossServers(t *testing.T) {
	srv := threeServers(t)
	a := newTestAccount(t)
	now := time.Now()
	p := records.Period(now)
	inner := a.record(t, 1)
	acc, err := records.NewBlindAccount(a.key, inner, p, uint64(now.UnixMilli()), now)
	if err != nil {
		t.Fatal(err)
	}
	accKey, err := records.BlindAccountKey(a.key.Public(), p)
	if err != nil {
		t.Fatal(err)
	}
	var pk records.PresenceSealKey
	copy(pk[:], bytes.Repeat([]byte{0x5a}, len(pk)))
	innerP, err := records.NewPresence(a.dev, a.key.ID(), nil, 1, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := records.NewBlindPresence(a.dev, &pk, innerP, p, uint64(now.UnixMilli()), now)
	if err != nil {
		t.Fatal(err)
	}
	presKey, err := records.BlindPresenceKey(a.dev.Public(), &pk, p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, kv := range []struct {
		key   string
		value []byte
	}{{accKey, acc}, {presKey, pres}} {
		if err := srv[0].DHT().PutValue(ctx, kv.key, kv.value); err != nil {
			t.Fatalf("PutValue: %v", err)
		}
	}

	// The reader, from another server.
	got, err := srv[2].DHT().GetValue(ctx, accKey)
	if err != nil {
		t.Fatalf("GetValue of the blinded account record: %v", err)
	}
	ra, err := records.OpenBlindAccount(a.key.Public(), p, got, time.Now())
	if err != nil || ra.Cert.ID != a.key.ID() || len(ra.Devices) != 1 {
		t.Fatalf("OpenBlindAccount: %v", err)
	}
	got, err = srv[1].DHT().GetValue(ctx, presKey)
	if err != nil {
		t.Fatalf("GetValue of the blinded presence record: %v", err)
	}
	if rp, err := records.OpenBlindPresence(a.dev.ID(), &pk, p, got, time.Now()); err != nil || rp.Device != a.dev.ID() {
		t.Fatalf("OpenBlindPresence: %v", err)
	}

	// Forged: a record signed by another account's blinded key under this
	// key, and a changed byte. Neither a put nor a rogue's push lands.
	other := newTestAccount(t)
	otherAcc, err := records.NewBlindAccount(other.key, other.record(t, 1), p, uint64(now.UnixMilli())+1, now)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(acc)
	flipped[len(flipped)-100] ^= 1
	rogue := rogueDHT(t, srv)
	for _, bad := range [][]byte{otherAcc, flipped} {
		if err := srv[1].DHT().PutValue(ctx, accKey, bad); err == nil {
			t.Error("a server accepted a forged blinded record")
		}
		_ = rogue.PutValue(ctx, accKey, bad)
	}
	// Control: the rogue's push of a valid record does land.
	otherKey, err := records.BlindAccountKey(other.key.Public(), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := rogue.PutValue(ctx, otherKey, otherAcc); err != nil {
		t.Fatalf("rogue PutValue of a valid record: %v", err)
	}
	ptest.WaitFor(t, 10*time.Second, func() error {
		for i, s := range srv {
			if v, err := s.DHT().GetValue(ctx, otherKey, routing.Offline); err != nil || !bytes.Equal(v, otherAcc) {
				return fmt.Errorf("server %d does not store the rogue's valid record: %v", i, err)
			}
		}
		return nil
	})
	id := a.key.ID()
	secrets := map[string][]byte{
		"account ID": id[:], "account public key": a.key.Public(), "device ID": []byte(a.dev.ID()),
		"device public key": a.dev.Public(), "presence key": pk[:], "account certificate": a.cert.Raw()[:48],
	}
	for i, s := range srv {
		if v, err := s.DHT().GetValue(ctx, accKey, routing.Offline); err != nil || !bytes.Equal(v, acc) {
			t.Errorf("server %d holds another blinded account record than the good one: %v", i, err)
		}
		stored, err := s.StoredRecords()
		if err != nil {
			t.Fatal(err)
		}
		blinded := 0
		for _, r := range stored {
			if r.Namespace != records.BlindAccountNamespace && r.Namespace != records.BlindPresenceNamespace {
				continue
			}
			blinded++
			for name, b := range secrets {
				if bytes.Contains([]byte(r.Key), b) || bytes.Contains(r.Value, b) {
					t.Errorf("server %d stores a blinded record that contains the %s", i, name)
				}
			}
		}
		if blinded != 3 {
			t.Errorf("server %d stores %d blinded records, want 3 (two of the account, one of the other)", i, blinded)
		}
	}
}
