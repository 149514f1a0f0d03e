package link

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/service/servicetest"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// TestLinkTransferFitsWhateverTheContacts: an account with more contacts
// than one link frame holds can still link a device: the transfer carries
// the accepted and blocked contacts first, within a budget, and the rest
// comes with the first sync (issue 14 finding 4: 1,000 stranger requests
// made linking impossible; enough real contacts would too).
func TestLinkTransferFitsWhateverTheContacts(t *testing.T) {
	env := servicetest.NewEnv(t, "alice")
	const n = 6000
	var cs []store.Contact
	for i := range n {
		state := store.Accepted
		if i%2 == 1 {
			state = store.RequestReceived
		}
		cs = append(cs, store.Contact{AccountID: storetest.Account(fmt.Sprint(i)), Name: strings.Repeat("n", 128), State: state, Updated: time.Unix(int64(i), 0)})
	}
	key, err := pcrypto.NewDeviceKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := pcrypto.IssueDeviceCert(env.ID.AccountKey(), env.ID.AccountCert, key.Public(), "phone", pcrypto.CertOptions{NotBefore: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// What linkArchive sends: the account, sixteen device certificates
	// (the most a record lists) and the contacts linkContacts picks.
	a := &pcrypto.Archive{AccountCert: env.ID.AccountCert.Raw(), Created: time.Now().UTC(), Contacts: linkContacts(cs)}
	for range 16 {
		a.DeviceCerts = append(a.DeviceCerts, dc.Raw())
	}
	archive, err := a.Encrypt([]byte("session passphrase"), linkKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := encodeLinkMsg(&linkMsg{Type: linkTransfer, DeviceCert: dc.Raw(), Archive: archive}); err != nil {
		t.Fatalf("the transfer of an account with %d contacts does not fit a link frame: %v", n, err)
	}
	got := a.Contacts
	accepted := 0
	for i, c := range got {
		if c.State == string(store.Accepted) {
			if accepted != i {
				t.Fatalf("contact %d is accepted after a %s one: accepted contacts go first", i, got[i-1].State)
			}
			accepted++
		}
	}
	if len(got) == 0 || len(got) >= n || accepted == 0 || !got[0].Updated.Equal(time.Unix(n-2, 0)) {
		t.Fatalf("the transfer carries %d of %d contacts (%d accepted, the first changed at %v)", len(got), n, accepted, got[0].Updated)
	}
	t.Logf("the transfer carries %d of %d contacts (%d accepted); %d bytes encrypted", len(got), n, accepted, len(archive))
}
