package node_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
)

// secondDevice restores dir's account onto a new device and makes each
// device know the other's certificate (what linking does).
func secondDevice(t testing.TB, dir, name string) string {
	t.Helper()
	opts := node.AccountOptions{KDF: pcrypto.TestKDFParams}
	st, err := node.OpenStore(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := node.ExportAccount(st, []byte("pass"), opts)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), name)
	if _, err := node.RestoreAccount(dir2, archive, []byte("pass"), node.AccountOptions{DeviceName: name, KDF: pcrypto.TestKDFParams}); err != nil {
		t.Fatal(err)
	}
	st2, err := node.OpenStore(dir2, opts)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := st2.DeviceCerts()
	st2.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err = node.OpenStore(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, der := range certs {
		if err := st.PutDeviceCert(id, der); err != nil {
			t.Fatal(err)
		}
	}
	return dir2
}

// ringing returns n's ringing incoming call, if any.
func ringing(n *testNode) (apitype.Call, bool) {
	for _, c := range n.Calls() {
		if c.Direction == "incoming" && c.State == "ringing" {
			return c, true
		}
	}
	return apitype.Call{}, false
}

// TestCallRingsAllDevices: bob has two devices; alice's call rings both;
// the second answers; the first stops ringing ("answered elsewhere"); media
// flows only between alice and the device that answered.
func TestCallRingsAllDevices(t *testing.T) {
	bs := startBootstraps(t, 1)
	bob1Dir := initAccount(t, "bob-laptop")
	bob2Dir := secondDevice(t, bob1Dir, "bob-phone")
	alice := startNode(t, initAccount(t, "alice"), bs)
	bob1 := startNode(t, bob1Dir, bs)
	bob2 := startNode(t, bob2Dir, bs)
	waitPublished(t, alice, bob1, bob2)
	if bob1.account != bob2.account {
		t.Fatal("the two devices are not of one account")
	}
	// Both of bob's devices receive alice's request and accept it (device
	// sync is not part of this test).
	if _, err := alice.AddContact(bob1.account, "", ""); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*testNode{bob1, bob2} {
		waitState(t, b, alice.account, "request-received")
		if _, err := b.AcceptContact(alice.account); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, alice, bob1.account, "accepted")

	c, err := alice.StartCall(context.Background(), apitype.CallRequest{AccountID: bob1.account.String(), Audio: "tone:600"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*testNode{bob1, bob2} {
		test.WaitFor(t, 10*time.Second, func() error {
			if _, ok := ringing(b); !ok {
				return fmt.Errorf("%s is not ringing", b.dir)
			}
			return nil
		})
	}
	if _, err := bob2.AnswerCall(apitype.CallAction{CallID: c.ID, Audio: "tone:900"}); err != nil {
		t.Fatal(err)
	}
	test.WaitFor(t, 10*time.Second, func() error {
		b1, _ := findCall(bob1, c.ID)
		if b1.State != "ended" || !strings.Contains(b1.Reason, "answered elsewhere") {
			return fmt.Errorf("bob's first device: %s (%s)", b1.State, b1.Reason)
		}
		return nil
	})
	ac := waitTone(t, alice, c.ID, 900)
	waitTone(t, bob2, c.ID, 600)
	if ac.PeerDevice != bob2.Keys().DeviceCert.Device.String() {
		t.Fatalf("alice is connected to %s, want bob's second device", ac.PeerDevice)
	}
	b1, _ := findCall(bob1, c.ID)
	if len(b1.Streams) != 0 {
		t.Fatalf("the device that did not answer has media: %+v", b1.Streams)
	}
}
