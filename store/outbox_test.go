package store_test

import (
	"strings"
	"testing"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

func TestOutbox(t *testing.T) {
	s := storetest.MustOpen(t, nil)
	bob := storetest.Account("bob")
	if items, err := s.Outbox(); err != nil || len(items) != 0 {
		t.Fatalf("empty outbox = %v, %v", items, err)
	}
	if err := s.PutOutbox(store.OutboxItem{To: bob, Kind: "request", Message: "hi"}); err != nil {
		t.Fatal(err)
	}
	items, err := s.Outbox()
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox = %v, %v", items, err)
	}
	first := items[0]
	if first.ID == "" || first.Created.IsZero() || first.Kind != "request" || first.Message != "hi" {
		t.Fatalf("item = %+v", first)
	}

	// A failed attempt is recorded on the same item.
	if err := s.RecordOutboxAttempt(bob, first.ID, strings.Repeat("x", 2000)); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Outbox()
	if items[0].Attempts != 1 || len(items[0].LastError) != 512 || items[0].LastAttempt.IsZero() {
		t.Fatalf("after attempt: %+v", items[0])
	}

	// A newer message replaces it; stale deletes and attempts leave it alone.
	if err := s.PutOutbox(store.OutboxItem{To: bob, Kind: "accept"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOutbox(bob, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOutboxAttempt(bob, first.ID, "late"); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Outbox()
	if len(items) != 1 || items[0].Kind != "accept" || items[0].ID == first.ID || items[0].Attempts != 0 {
		t.Fatalf("after stale delete: %+v", items)
	}
	if err := s.DeleteOutbox(bob, items[0].ID); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Outbox(); len(items) != 0 {
		t.Fatalf("after delete: %+v", items)
	}
	// Unconditional delete of nothing is fine; bad input is refused.
	if err := s.DeleteOutbox(storetest.Account("nobody"), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOutbox(store.OutboxItem{To: crypto.AccountID{}, Kind: "request"}); err == nil {
		t.Fatal("empty recipient accepted")
	}
	if err := s.PutOutbox(store.OutboxItem{To: bob, Kind: "request", Message: strings.Repeat("m", 1025)}); err == nil {
		t.Fatal("oversized message accepted")
	}
}
