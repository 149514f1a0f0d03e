package contacts

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
)

// TestContactFromNonCanonicalID: a contact message whose sender account ID
// is spelled in another accepted form (upper case, dashes) is the same
// account: the contact is stored under the canonical ID, not under the
// sender's spelling (which would make a second entry for one account that
// no API call could reach).
func TestContactFromNonCanonicalID(t *testing.T) {
	alice := newTestNode(t, "alice")
	bob := newTestNode(t, "bob")
	canonical := alice.ID.AccountCert.ID.String()
	spelled := strings.ToUpper(canonical[:20]) + "-" + strings.ToUpper(canonical[20:])
	payload, err := json.Marshal(map[string]any{
		"v": 1, "kind": kindRequest, "from": spelled, "to": bob.ID.AccountCert.ID.String(),
		"account_cert": alice.ID.AccountCert.Raw(), "device_cert": alice.ID.DeviceCert.Raw(),
		"message": "hello", "time": time.Now().UTC(), "nonce": "00",
	})
	if err != nil {
		t.Fatal(err)
	}
	k := alice.ID.DeviceKey.Ed25519()
	msg, err := pcrypto.SignEnvelope(k, contactContext, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.receiveContact(peer.ID(alice.ID.DeviceCert.Device), msg); err != nil {
		t.Fatal(err)
	}
	cs, err := bob.Store.Contacts()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || fmt.Sprint(cs[0].AccountID) != canonical {
		t.Fatalf("contacts = %+v, want one under %s", cs, canonical)
	}
}
