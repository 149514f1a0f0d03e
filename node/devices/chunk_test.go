package devices

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/internal/wire"
	"github.com/parleyhq/parley/node/service/servicetest"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// TestSyncItemRoundTrip: every field of a store.SyncEntry survives the
// wire (a field left out of syncItem is silently lost between devices).
func TestSyncItemRoundTrip(t *testing.T) {
	e := store.SyncEntry{
		Key: store.SyncContactKey(storetest.Account("bob")), Time: 7, Device: storetest.Device("d"),
		Deleted: true, Name: "Bob", State: store.Accepted, Message: "hi", Asked: 42, Value: "v",
		PresenceKey: store.PresenceKey{Key: [store.PresenceKeyLen]byte{1, 2, 3}, Gen: 5},
	}
	v := reflect.ValueOf(e)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("test entry leaves %s zero: set every field", v.Type().Field(i).Name)
		}
	}
	raw, err := json.Marshal(toSyncItem(e))
	if err != nil {
		t.Fatal(err)
	}
	var it syncItem
	if err := json.Unmarshal(raw, &it); err != nil {
		t.Fatal(err)
	}
	got, err := it.entry()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("after the wire: %+v, want %+v", got, e)
	}
}

// TestSyncChunked: a state larger than one frame travels in several
// frames and arrives whole (issue 14 finding 4: the whole contact state
// had to fit one 4 MiB frame, so enough contacts stopped all sync).
func TestSyncChunked(t *testing.T) {
	m := &syncMsg{Account: storetest.Account("alice"), CRL: []byte("crl")}
	for i := range 12000 {
		m.Entries = append(m.Entries, syncItem{Key: store.SyncContactKey(storetest.Account(fmt.Sprint(i))), T: int64(i), Name: strings.Repeat("n", 100), Msg: strings.Repeat("m", 300)})
	}
	b, err := encodeSyncMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) <= maxSyncMessage {
		t.Fatalf("test state is %d bytes, want more than one frame's %d", len(b), maxSyncMessage)
	}
	frames := 0
	for r := bytes.NewReader(b); r.Len() > 0; frames++ {
		if _, err := wire.ReadFrame(r, maxSyncMessage); err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
	}
	got, err := readSyncMsg(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	if frames < 5 || len(got.Entries) != len(m.Entries) || !reflect.DeepEqual(got.Entries[11999], m.Entries[11999]) || string(got.CRL) != "crl" || got.More {
		t.Fatalf("%d frames; read back %d entries, CRL %q, more %v", frames, len(got.Entries), got.CRL, got.More)
	}
	// A continuation may carry only entries.
	bad, _ := json.Marshal(&syncMsg{V: 1, Account: m.Account, More: true})
	cont, _ := json.Marshal(&syncMsg{V: 1, Account: m.Account, CRL: []byte("other")})
	var in []byte
	in, _ = wire.AppendFrame(in, bad, maxSyncMessage)
	in, _ = wire.AppendFrame(in, cont, maxSyncMessage)
	if _, err := readSyncMsg(bufio.NewReader(bytes.NewReader(in))); err == nil {
		t.Fatal("a continuation frame with a CRL was taken")
	}
}

// TestUntrustedSyncBounded: a device that is not a trusted device of the
// account is refused after a small read, not after a whole 4 MiB frame
// (issue 14 finding 15: every sync stream could make the receiver buffer
// 4 MiB before the sender was checked).
func TestUntrustedSyncBounded(t *testing.T) {
	alice := newService(t, servicetest.NewEnv(t, "alice"))
	alice.Host.SetStreamHandler(SyncProtocol, alice.handleSyncStream)
	mallory := servicetest.NewEnv(t, "mallory")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mallory.Host.Connect(ctx, peer.AddrInfo{ID: alice.Host.ID(), Addrs: alice.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	big := &syncMsg{V: 1, Account: alice.ID.AccountCert.ID}
	for i := range 2000 {
		big.Entries = append(big.Entries, syncItem{Key: store.SyncContactKey(storetest.Account(fmt.Sprint(i))), T: 1, Msg: strings.Repeat("x", 400)})
	}
	body, err := json.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := wire.AppendFrame(nil, body, maxSyncMessage)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) < 10*maxUntrustedSync {
		t.Fatalf("test frame is only %d bytes", len(frame))
	}
	s, err := mallory.Host.NewStream(ctx, alice.Host.ID(), SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	_, werr := s.Write(frame)
	_ = s.CloseWrite()
	reply, rerr := io.ReadAll(s)
	if werr == nil && rerr == nil && len(reply) > 0 {
		t.Fatalf("a %d-byte sync request from a stranger device was read whole and answered (%d bytes)", len(frame), len(reply))
	}
	// A small request from the same stranger is still answered (refused
	// as unknown), so a device linked a moment ago learns why.
	small, _ := encodeSyncMsg(&syncMsg{Account: alice.ID.AccountCert.ID})
	s2, err := mallory.Host.NewStream(ctx, alice.Host.ID(), SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Write(small); err != nil {
		t.Fatal(err)
	}
	_ = s2.CloseWrite()
	got, err := readSyncMsg(bufio.NewReader(io.LimitReader(s2, maxSyncMessage)))
	if err != nil || got.Code != "unknown" {
		t.Fatalf("small request from an unknown device: %+v, %v; want refused as unknown", got, err)
	}
}
