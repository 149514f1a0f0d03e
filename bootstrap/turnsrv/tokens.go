package turnsrv

import (
	"container/list"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxTokens bounds a Tokens table when NewTokens is given 0: room
// for 4096 devices asking at the default rate (10 a minute) for a
// credential's lifetime (10 minutes) twice over.
const DefaultMaxTokens = 1 << 16

// TokenLen is the length of a token in its text form: 16 random bytes
// in unpadded base64url.
const TokenLen = 22

// Tokens maps the opaque tokens of TURN usernames ("<expiry>:<token>") to
// the devices they were issued to, so that the username says nothing about
// the device to someone on the path, while the server still counts
// allocations per device and refuses a revoked device's credentials. It
// is bounded: past its size the oldest mapping (the next to expire) is
// forgotten, and the credential then counts as its own quota user (see
// Server). Safe for concurrent use. The zero value is not usable; make
// one with NewTokens.
type Tokens struct {
	max int

	mu    sync.Mutex
	m     map[string]*list.Element // token → *tokenEntry
	order list.List                // of *tokenEntry, oldest issued first

	evicted atomic.Uint64
}

type tokenEntry struct {
	token   string
	device  string
	expires time.Time
	revoked bool
}

// NewTokens returns an empty table of at most max tokens (0:
// DefaultMaxTokens).
func NewTokens(max int) *Tokens {
	if max <= 0 {
		max = DefaultMaxTokens
	}
	return &Tokens{max: max, m: make(map[string]*list.Element)}
}

// Issue makes a new random token for device, remembered until expires
// (or until the table needs its room), dropping the expired ones first.
func (t *Tokens) Issue(device string, expires, now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	for el := t.order.Front(); el != nil; el = t.order.Front() {
		e := el.Value.(*tokenEntry)
		if now.Before(e.expires) && t.order.Len() < t.max {
			break
		}
		if now.Before(e.expires) {
			t.evicted.Add(1)
		}
		t.order.Remove(el)
		delete(t.m, e.token)
	}
	t.m[tok] = t.order.PushBack(&tokenEntry{token: tok, device: device, expires: expires})
	return tok
}

// Lookup returns the device token was issued to, whether the table knows
// the token, and whether the device's credentials were revoked since.
func (t *Tokens) Lookup(token string) (device string, known, revoked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.m[token]
	if el == nil {
		return "", false, false
	}
	e := el.Value.(*tokenEntry)
	return e.device, true, e.revoked
}

// Revoke marks every token of device revoked: the server refuses them
// from then on, also for allocations that already exist (their next
// Refresh, CreatePermission or ChannelBind).
func (t *Tokens) Revoke(device string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for el := t.order.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*tokenEntry); e.device == device {
			e.revoked = true
		}
	}
}

// Len returns the number of tokens held.
func (t *Tokens) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}

// Evicted counts the tokens forgotten before their expiry to stay within
// the bound.
func (t *Tokens) Evicted() uint64 { return t.evicted.Load() }
