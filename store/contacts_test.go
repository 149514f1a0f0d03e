package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

func TestContactRoundTrip(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 123, time.UTC)
	clock := &testClock{t: t0}
	dir := t.TempDir()
	s := mustOpen(t, dir, &store.Options{Now: clock.Now})

	in := store.Contact{
		AccountID: storetest.Account("bob"),
		Name:      "Bob",
		State:     store.RequestSent,
		Message:   "hi, it's Alice",
		// Ignored: the store owns the timestamps.
		Created: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
		Updated: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if err := s.PutContact(in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Contact(storetest.Account("bob"))
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Created, want.Updated = t0, t0
	if !equalContact(got, want) {
		t.Fatalf("Contact = %+v, want %+v", got, want)
	}

	// An update keeps Created and moves Updated.
	t1 := t0.Add(time.Hour)
	clock.t = t1
	in.State = store.Accepted
	in.Message = ""
	if err := s.PutContact(in); err != nil {
		t.Fatal(err)
	}
	got, err = s.Contact(storetest.Account("bob"))
	if err != nil {
		t.Fatal(err)
	}
	want = in
	want.Created, want.Updated = t0, t1
	if !equalContact(got, want) {
		t.Fatalf("after update Contact = %+v, want %+v", got, want)
	}

	// Persisted across reopen.
	s.Close()
	s = mustOpen(t, dir, nil)
	got, err = s.Contact(storetest.Account("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if !equalContact(got, want) {
		t.Fatalf("after reopen Contact = %+v, want %+v", got, want)
	}
}

func equalContact(a, b store.Contact) bool {
	return a.AccountID == b.AccountID && a.Name == b.Name && a.State == b.State &&
		a.Message == b.Message && a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
}

func TestContactsSortedAndDelete(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	if cs, err := s.Contacts(); err != nil || len(cs) != 0 {
		t.Fatalf("Contacts on empty store = %v, %v", cs, err)
	}
	names := map[crypto.AccountID]string{}
	for _, name := range []string{"carol", "alice", "bob", "Zed"} {
		id := storetest.Account(name)
		names[id] = name
		if err := s.PutContact(store.Contact{AccountID: id, Name: "n-" + name, State: store.Accepted}); err != nil {
			t.Fatal(err)
		}
	}
	// Contacts come sorted by the text form of the ID (the bucket key).
	assertIDs := func(want ...string) {
		t.Helper()
		slices.SortFunc(want, func(a, b string) int {
			return strings.Compare(storetest.Account(a).String(), storetest.Account(b).String())
		})
		cs, err := s.Contacts()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, names[c.AccountID])
			if c.Name != "n-"+names[c.AccountID] {
				t.Errorf("contact %s has name %q", c.AccountID, c.Name)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("Contacts = %v, want %v", got, want)
		}
	}
	assertIDs("Zed", "alice", "bob", "carol")

	bob := storetest.Account("bob")
	if err := s.DeleteContact(bob); err != nil {
		t.Fatal(err)
	}
	assertIDs("Zed", "alice", "carol")
	if _, err := s.Contact(bob); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Contact after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteContact(bob); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteContact: %v, want ErrNotFound", err)
	}
	if _, err := s.Contact(storetest.Account("nobody")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Contact(nobody): %v, want ErrNotFound", err)
	}
}

func TestPutContactValidation(t *testing.T) {
	ok := store.Contact{AccountID: storetest.Account("a"), State: store.Accepted}
	tests := []struct {
		name    string
		modify  func(*store.Contact)
		wantErr error
	}{
		{"valid", func(*store.Contact) {}, nil},
		{"request sent", func(c *store.Contact) { c.State = store.RequestSent }, nil},
		{"request received", func(c *store.Contact) { c.State = store.RequestReceived }, nil},
		{"blocked", func(c *store.Contact) { c.State = store.Blocked }, nil},
		{"name at limit", func(c *store.Contact) { c.Name = strings.Repeat("n", 128) }, nil},
		{"message at limit", func(c *store.Contact) { c.Message = strings.Repeat("m", 1024) }, nil},
		{"zero account ID", func(c *store.Contact) { c.AccountID = crypto.AccountID{} }, store.ErrInvalid},
		{"empty state", func(c *store.Contact) { c.State = "" }, store.ErrInvalid},
		{"unknown state", func(c *store.Contact) { c.State = "friends" }, store.ErrInvalid},
		{"name too long", func(c *store.Contact) { c.Name = strings.Repeat("n", 129) }, store.ErrInvalid},
		{"message too long", func(c *store.Contact) { c.Message = strings.Repeat("m", 1025) }, store.ErrInvalid},
		{"name not UTF-8", func(c *store.Contact) { c.Name = "\xc3" }, store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.MustOpen(t, nil)
			c := ok
			tt.modify(&c)
			err := s.PutContact(c)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PutContact error = %v, want %v", err, tt.wantErr)
			}
			cs, err := s.Contacts()
			if err != nil {
				t.Fatal(err)
			}
			if stored := len(cs) == 1; stored != (tt.wantErr == nil) {
				t.Fatalf("stored = %v with error %v", stored, tt.wantErr)
			}
		})
	}
}

func TestContactCorruptJSON(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"not JSON", "{\"v\":1,"},
		{"binary", "\x00\xff\xfe"},
		{"empty", ""},
		{"null", "null"},
		{"array", "[1,2]"},
		{"wrong version", `{"v":7,"state":"accepted"}`},
		{"no version", `{"state":"accepted"}`},
		{"unknown state", `{"v":1,"state":"friends"}`},
		{"state wrong type", `{"v":1,"state":5}`},
		{"bad time", `{"v":1,"state":"accepted","created":"yesterday"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.MustOpen(t, nil)
			good, bad := storetest.Account("good"), storetest.Account("bad")
			if err := s.PutContact(store.Contact{AccountID: good, State: store.Accepted}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutRawForTest("contacts", bad.String(), []byte(tt.raw)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Contact(bad); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Contact(bad) error = %v, want ErrCorrupt", err)
			}
			if _, err := s.Contacts(); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("Contacts error = %v, want ErrCorrupt", err)
			}
			if _, err := s.Contact(good); err != nil {
				t.Errorf("Contact(good) next to a corrupt one: %v", err)
			}
			// Putting the contact again repairs it.
			if err := s.PutContact(store.Contact{AccountID: bad, State: store.Blocked}); err != nil {
				t.Fatalf("PutContact over a corrupt record: %v", err)
			}
			if c, err := s.Contact(bad); err != nil || c.State != store.Blocked {
				t.Fatalf("repaired contact = %+v, %v", c, err)
			}
		})
	}
}

// TestApplyContactChange checks that a contact and its queued message are
// written, and removed, together, and that an invalid change writes nothing.
func TestApplyContactChange(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	acct := storetest.Account("xyz")
	err := s.ApplyContactChange(store.ContactChange{
		AccountID: acct,
		Contact:   &store.Contact{AccountID: acct, State: store.RequestSent, Message: "hi"},
		Send:      &store.OutboxItem{Kind: "request", Message: "hi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Contact(acct)
	if err != nil || c.State != store.RequestSent {
		t.Fatalf("contact = %+v, %v", c, err)
	}
	if items, _ := s.Outbox(); len(items) != 1 || items[0].To != acct || items[0].Kind != "request" {
		t.Fatalf("outbox = %+v", items)
	}
	// An invalid contact (unknown state) writes neither part.
	err = s.ApplyContactChange(store.ContactChange{
		AccountID: acct, ClearOutbox: true,
		Contact: &store.Contact{AccountID: acct, State: "friends"},
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if items, _ := s.Outbox(); len(items) != 1 {
		t.Fatalf("a refused change cleared the outbox: %+v", items)
	}
	// Delete with ClearOutbox removes both.
	if err := s.ApplyContactChange(store.ContactChange{AccountID: acct, ClearOutbox: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Contact(acct); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("contact still there: %v", err)
	}
	if items, _ := s.Outbox(); len(items) != 0 {
		t.Fatalf("outbox = %+v", items)
	}
}
