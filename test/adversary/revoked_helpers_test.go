package adversary

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/bootstrap"
	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/test/testnet"
)

// testnetNoTURN runs bootstraps without TURN.
var testnetNoTURN = bootstrap.TURNConfig{}

// forgeAccountRecord is the best account record a member device can make:
// the account record it holds, with sequence seq, re-signed with the only
// key it has, its device key.
func forgeAccountRecord(t *testing.T, n *testnet.Node, seq uint64) []byte {
	t.Helper()
	raw, _, ok, err := n.Store().OwnRecord()
	if err != nil || !ok {
		t.Fatalf("no record to start from: %v", err)
	}
	env, err := pcrypto.OpenEnvelope(raw, records.AccountContext, records.MaxAccountRecordSize)
	if err != nil {
		t.Fatal(err)
	}
	payload := append([]byte(nil), env.Payload...)
	binary.BigEndian.PutUint64(payload[1:9], seq) // version byte, then the sequence
	out, err := pcrypto.SignEnvelope(n.Keys().DeviceKey.Ed25519(), records.AccountContext, payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// someCode returns a valid link code of a device waiting to be linked.
func someCode(t *testing.T, net *testnet.Network) string {
	t.Helper()
	r, err := node.NewLinkRequest(filepath.Join(t.TempDir(), "victim"), node.LinkOptions{
		AccountOptions: node.AccountOptions{KDF: pcrypto.TestKDFParams},
		Bootstraps:     net.BootstrapAddrs(), ListenAddrs: testnet.Loopback, AutoConfirm: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r.Code()
}

// storePin is the pin a record asks for (as the presence service makes it).
func storePin(rec *records.Account) store.AccountPin {
	p := store.AccountPin{Seq: rec.Seq}
	if rec.CRL != nil {
		p.CRLNumber = rec.CRL.Number.Uint64()
		for _, e := range rec.CRL.List.RevokedCertificateEntries {
			p.Revoked = append(p.Revoked, e.SerialNumber.Bytes())
		}
	}
	return p
}
