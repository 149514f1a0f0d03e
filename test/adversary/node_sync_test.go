package adversary

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/wait"
)

// maxUntrustedSync is what a device reads of a sync request from a device
// it does not trust (docs/protocol.md, "Sync between devices").
const maxUntrustedSync = 64 << 10

// maxSyncStreams is how many sync requests a device serves at once.
const maxSyncStreams = 8

// TestNodeSyncFromStrangers: sync requests from a device of another
// account and from a device claiming the victim's account are refused and
// change nothing; a large request from either is not read past a small
// budget, and at most 8 are served at once (issue 14 finding 15: each
// stream could make the device read and hold 4 MiB before the sender was
// checked).
func TestNodeSyncFromStrangers(t *testing.T) {
	t.Parallel()
	v := startVictim(t, nil)
	ctx := t.Context()
	m := newAttacker(t, v.info, nil)
	entries, err := ContactEntries(3, "planted", m.Key.ID())
	if err != nil {
		t.Fatal(err)
	}
	contacts := func() int {
		cs, err := v.Client().Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}

	// Its own account: refused as another account's device.
	resp, err := SendSync(ctx, m.h, v.info.ID, &SyncRequest{Account: m.Account.Cert.ID.String(), Entries: entries})
	if err != nil || resp.Code != "account" {
		t.Errorf("sync from a device of another account: %+v, %v; want refusal \"account\"", resp, err)
	}
	// The victim's account, which it holds no certificate of: refused as
	// an unknown device.
	resp, err = SendSync(ctx, m.h, v.info.ID, &SyncRequest{Account: v.account.String(), Entries: entries})
	if err != nil || resp.Code != "unknown" {
		t.Errorf("sync from a stranger claiming the account: %+v, %v; want refusal \"unknown\"", resp, err)
	}
	if n := contacts(); n != 0 {
		t.Errorf("%d contacts after the strangers' sync requests, want 0", n)
	}

	// A well-formed request of 1 MiB: the victim stops reading at its
	// budget for strangers and resets the stream instead of answering.
	big, err := ContactEntries(1, "x", m.Key.ID())
	if err != nil {
		t.Fatal(err)
	}
	for len(big) < 8000 { // about 1 MiB of JSON
		e := big[0]
		e.Key = fmt.Sprintf("contact/junk%08d", len(big))
		big = append(big, e)
	}
	body, err := json.Marshal(&SyncRequest{V: 1, Account: v.account.String(), Entries: big})
	if err != nil {
		t.Fatal(err)
	}
	if len(body) < 16*maxUntrustedSync {
		t.Fatalf("the large request is only %d bytes", len(body))
	}
	resp, err = SendSyncRaw(ctx, m.h, v.info.ID, body)
	if !errors.Is(err, ErrNoSyncAnswer) {
		t.Errorf("a %d-byte sync request from a stranger: answer %+v, err %v; want the stream reset unanswered", len(body), resp, err)
	}

	// Eight streams holding the victim's sync slots with half a frame:
	// the next is reset at once.
	var held []network.Stream
	for range maxSyncStreams {
		s, err := m.h.NewStream(ctx, v.info.ID, SyncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Reset() })
		if _, err := s.Write([]byte{0x80, 0x01, '{'}); err != nil { // a 128-byte frame, begun
			t.Fatal(err)
		}
		held = append(held, s)
	}
	small := &SyncRequest{Account: m.Account.Cert.ID.String()}
	test.WaitFor(t, 5*time.Second, func() error {
		// The holders' handlers start a moment after their first bytes:
		// until all eight hold a slot, the ninth may be answered.
		resp, err := SendSync(ctx, m.h, v.info.ID, small)
		if errors.Is(err, ErrNoSyncAnswer) {
			return nil
		}
		if err != nil {
			return wait.Stop(err)
		}
		return fmt.Errorf("a sync request beyond %d at once was answered (%q)", maxSyncStreams, resp.Code)
	})
	for _, s := range held {
		_ = s.Reset()
	}
	test.WaitFor(t, 5*time.Second, func() error {
		resp, err := SendSync(ctx, m.h, v.info.ID, small)
		if err != nil {
			return err
		}
		if resp.Code != "account" {
			return wait.Stop(fmt.Errorf("after the holders left: %+v", resp))
		}
		return nil
	})
	if n := contacts(); n != 0 {
		t.Errorf("%d contacts after the strangers' sync requests, want 0", n)
	}
}
