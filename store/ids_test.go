package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// TestIDKeysOnDisk pins the on-disk form of the ID-keyed buckets: records
// written the way every earlier version wrote them (the IDs' text forms as
// keys and inside JSON) read back through the typed API, and the typed API
// writes the same keys.
func TestIDKeysOnDisk(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	alice, dev := storetest.Account("alice"), storetest.Device("phone")
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

	// As written by the string-keyed store.
	raw := map[[2]string]string{
		{"contacts", alice.String()}:          `{"v":1,"name":"Alice","state":"accepted","created":"2025-03-01T10:00:00Z","updated":"2025-03-01T10:00:00Z"}`,
		{"outbox", alice.String()}:            `{"v":1,"id":"0011","kind":"accept","created":"2025-03-01T10:00:00Z"}`,
		{"devicecerts", dev.String()}:         "DER",
		{"devicemeta", dev.String()}:          `{"v":1,"linked":"2025-03-01T10:00:00Z"}`,
		{"calls", "\x00\x00\x00\x00c1"}:       `{"v":1,"id":"c1","direction":"incoming","peer":"` + alice.String() + `","peer_device":"` + dev.String() + `","answered":true,"started":"2025-03-01T10:00:00Z","ended":"2025-03-01T10:00:00Z"}`,
		{"sync", store.SyncContactKey(alice)}: `{"v":1,"t":5,"dev":"` + dev.String() + `","name":"Alice","state":"accepted"}`,
	}
	for k, v := range raw {
		if err := s.PutRawForTest(k[0], k[1], []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := s.Contact(alice); err != nil || c.AccountID != alice || c.Name != "Alice" || !c.Created.Equal(t0) {
		t.Fatalf("Contact = %+v, %v", c, err)
	}
	if items, err := s.Outbox(); err != nil || len(items) != 1 || items[0].To != alice || items[0].ID != "0011" {
		t.Fatalf("Outbox = %+v, %v", items, err)
	}
	if certs, err := s.DeviceCerts(); err != nil || string(certs[dev]) != "DER" {
		t.Fatalf("DeviceCerts = %q, %v", certs, err)
	}
	if m, err := s.DeviceMetas(); err != nil || !m[dev].Linked.Equal(t0) {
		t.Fatalf("DeviceMetas = %+v, %v", m, err)
	}
	if calls, err := s.Calls(); err != nil || len(calls) != 1 || calls[0].Peer != alice || calls[0].PeerDevice != dev {
		t.Fatalf("Calls = %+v, %v", calls, err)
	}
	es, err := s.SyncState(storetest.Device("me"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Key != store.SyncContactKey(alice) || es[0].Device != dev || es[0].Time != 5 {
		t.Fatalf("SyncState = %+v", es)
	}

	// The typed API writes under the same keys.
	bob := storetest.Account("bob")
	if err := s.PutContact(store.Contact{AccountID: bob, State: store.Blocked}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOutbox(store.OutboxItem{To: bob, Kind: "decline"}); err != nil {
		t.Fatal(err)
	}
	tablet := storetest.Device("tablet")
	if err := s.PutDeviceCert(tablet, []byte("DER2")); err != nil {
		t.Fatal(err)
	}
	if err := s.NoteDeviceSeen(tablet, t0); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][2]string{{"contacts", bob.String()}, {"outbox", bob.String()}, {"devicecerts", tablet.String()}, {"devicemeta", tablet.String()}} {
		if s.GetRawForTest(k[0], k[1]) == nil {
			t.Errorf("nothing stored in %s under %s", k[0], k[1])
		}
	}
	if err := s.PutCall(store.CallRecord{ID: "c2", Peer: bob, PeerDevice: tablet, Started: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	calls, _ := s.Calls()
	if len(calls) != 2 || calls[1].Peer != bob {
		t.Fatalf("Calls = %+v", calls)
	}
}

// TestMalformedIDsRefused: the store takes no ID that is not one, and a
// key that is not an ID does not come out as one.
func TestMalformedIDsRefused(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	bad := crypto.DeviceID("12D3KooW-not-a-device")
	for name, err := range map[string]error{
		"PutContact zero":  s.PutContact(store.Contact{State: store.Accepted}),
		"PutOutbox zero":   s.PutOutbox(store.OutboxItem{Kind: "request"}),
		"ContactChange":    s.ApplyContactChange(store.ContactChange{ClearOutbox: true}),
		"PutDeviceCert":    s.PutDeviceCert(bad, []byte("x")),
		"DeleteDeviceCert": s.DeleteDeviceCert(bad),
		"NoteDeviceLinked": s.NoteDeviceLinked(bad, time.Now()),
		"PutCall peer":     s.PutCall(store.CallRecord{ID: "c", Started: time.Now()}),
		"PutCall device":   s.PutCall(store.CallRecord{ID: "c", Peer: storetest.Account("a"), PeerDevice: bad}),
	} {
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.SyncState(bad, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SyncState: %v, want ErrInvalid", err)
	}

	// Keys that are not IDs (no version wrote them; a damaged file might).
	for _, b := range []string{"contacts", "outbox", "devicecerts", "devicemeta"} {
		if err := s.PutRawForTest(b, "not-an-id", []byte(`{"v":1,"state":"accepted","kind":"request"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Contacts(); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "not-an-id") {
		t.Errorf("Contacts with a bad key: %v, want ErrCorrupt naming the key", err)
	}
	if items, err := s.Outbox(); err != nil || len(items) != 0 {
		t.Errorf("Outbox with a bad key = %+v, %v; want it left out", items, err)
	}
	if certs, err := s.DeviceCerts(); err != nil || len(certs) != 0 {
		t.Errorf("DeviceCerts with a bad key = %q, %v; want it left out", certs, err)
	}
	if m, err := s.DeviceMetas(); err != nil || len(m) != 0 {
		t.Errorf("DeviceMetas with a bad key = %+v, %v; want it left out", m, err)
	}
}
