// Package servicetest builds a service.Env for a service's own tests: a
// fresh account in a temporary directory, its store, a libp2p host on
// loopback and a DHT (not bootstrapped), all closed when the test ends. A
// service can then be tested alone, without a node.
package servicetest

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test"
)

// NewEnv makes a new account named name and returns the Env of its first
// device. Everything is released in t.Cleanup.
func NewEnv(t testing.TB, name string) service.Env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if _, err := account.InitAccount(dir, account.AccountOptions{DeviceName: name, KDF: pcrypto.TestKDFParams}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := account.LoadIdentity(st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Wipe)
	sk, err := p2pcrypto.UnmarshalEd25519PrivateKey(id.DeviceKey.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(sk), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	d, err := dht.New(h, append(records.DHTOptions(time.Now), dht.Mode(dht.ModeClient))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return service.Env{
		Host: h, DHT: d, Store: st, ID: id, Now: time.Now, Events: &service.Events{},
		Log: slog.New(slog.NewTextHandler(test.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}
