package turnsrv

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestTokensOnServer: with opaque usernames, a real server counts the
// allocations of every token issued to one device against that device's
// quota, takes a token it does not know as its own quota user, and refuses
// a revoked device's tokens, also on an allocation that already exists.
func TestTokensOnServer(t *testing.T) {
	tokens := NewTokens(0)
	ts := startServer(t, func(c *Config) {
		c.Tokens = tokens
		c.Quota = Quota{PerUser: 1, PerIP: 100, Total: 100}
	})
	now := time.Now()
	creds := func(dev string) (string, string) {
		return Credentials(testSecret, tokens.Issue(dev, now.Add(time.Hour), now), time.Hour, now)
	}
	u1, p1 := creds("device-a")
	u2, p2 := creds("device-a")
	c1, _ := dialTURN(t, ts, "udp", u1, p1)
	r1, err := c1.Allocate()
	if err != nil {
		t.Fatalf("first token of device-a: %v", err)
	}
	defer r1.Close()
	c2, _ := dialTURN(t, ts, "udp", u2, p2)
	if r, err := c2.Allocate(); err == nil {
		r.Close()
		t.Fatal("a second token of device-a got past its quota of 1")
	}
	ub, pb := creds("device-b")
	cb, _ := dialTURN(t, ts, "udp", ub, pb)
	rb, err := cb.Allocate()
	if err != nil {
		t.Fatalf("device-b: %v", err)
	}
	defer rb.Close()
	uu, pu := Credentials(testSecret, "not-in-the-table", time.Hour, now)
	cu, _ := dialTURN(t, ts, "udp", uu, pu)
	ru, err := cu.Allocate()
	if err != nil {
		t.Fatalf("unknown token: %v", err)
	}
	defer ru.Close()

	tokens.Revoke("device-b")
	// A new permission on the allocation that exists needs the
	// credential again: refused.
	peer, err := net.ResolveUDPAddr("udp4", ts.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	peer.Port++ // any peer; the permission is what is refused
	if _, err := rb.WriteTo([]byte("x"), peer); err == nil {
		t.Error("a revoked token created a permission")
	}
	cb2, _ := dialTURN(t, ts, "udp", ub, pb)
	if r, err := cb2.Allocate(); err == nil {
		r.Close()
		t.Fatal("a revoked token got an allocation")
	}
}

// TestTokensBounded: the table holds at most its size, forgetting the
// oldest first (expired ones before live ones, counted as evicted).
func TestTokensBounded(t *testing.T) {
	now := time.Now()
	tk := NewTokens(4)
	first := tk.Issue("d0", now.Add(time.Minute), now)
	for i := range 5 {
		tok := tk.Issue(fmt.Sprint("d", i+1), now.Add(time.Minute), now)
		if len(tok) != TokenLen {
			t.Fatalf("token %q", tok)
		}
	}
	if tk.Len() != 4 || tk.Evicted() != 2 {
		t.Fatalf("len %d evicted %d, want 4 and 2", tk.Len(), tk.Evicted())
	}
	if _, known, _ := tk.Lookup(first); known {
		t.Fatal("the oldest token is still held")
	}
	later := now.Add(2 * time.Minute)
	tk.Issue("d9", later.Add(time.Minute), later)
	if tk.Len() != 1 || tk.Evicted() != 2 {
		t.Fatalf("after expiry: len %d evicted %d, want 1 and 2", tk.Len(), tk.Evicted())
	}
}
