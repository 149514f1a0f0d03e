package callproto

import (
	"fmt"
	"sync"
	"time"
)

// MaxReplayEntries is the default and largest size of a ReplayCache.
const MaxReplayEntries = 10000

// ReplayWindow is how long a ReplayCache remembers a call ID: a message
// accepted at time r has a timestamp t with |r − t| ≤ TimeWindow, and a
// replay at r′ passes the time check only while r′ ≤ t + TimeWindow ≤
// r + 2·TimeWindow.
const ReplayWindow = 2 * TimeWindow

// ReplayCache remembers the call IDs of accepted offers for ReplayWindow so
// that an offer replayed while its timestamp is still fresh is refused.
// It holds at most its size in entries and evicts the oldest first. The zero
// value is ready to use with size MaxReplayEntries; a ReplayCache is safe
// for concurrent use.
//
// Record an ID only after ParseOffer accepted the offer, with the same now,
// so that only validly signed offers take up room.
type ReplayCache struct {
	mu    sync.Mutex // guards the following fields
	size  int
	seen  map[CallID]time.Time
	order []replayEntry // insertion order; order[head:] are live
	head  int
}

type replayEntry struct {
	id CallID
	at time.Time
}

// NewReplayCache returns a cache of at most size entries; size ≤ 0 or above
// MaxReplayEntries means MaxReplayEntries.
func NewReplayCache(size int) *ReplayCache {
	return &ReplayCache{size: size}
}

// Seen records id at now and reports whether it was already recorded within
// ReplayWindow (true means a replay: refuse the offer). A replay does not
// extend the first sighting's lifetime.
func (c *ReplayCache) Seen(id CallID, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.initLocked()
	c.expireLocked(now)
	if _, ok := c.seen[id]; ok {
		return true
	}
	if len(c.seen) >= c.size {
		c.popLocked()
	}
	c.seen[id] = now
	c.order = append(c.order, replayEntry{id, now})
	return false
}

// Check is Seen returning ErrReplay for a replay.
func (c *ReplayCache) Check(id CallID, now time.Time) error {
	if c.Seen(id, now) {
		return fmt.Errorf("callproto.ReplayCache.Check: %w: call %s", ErrReplay, id)
	}
	return nil
}

// Len returns the number of remembered call IDs, including any that have
// expired since the last Seen.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *ReplayCache) initLocked() {
	if c.size <= 0 || c.size > MaxReplayEntries {
		c.size = MaxReplayEntries
	}
	if c.seen == nil {
		c.seen = make(map[CallID]time.Time)
	}
}

// expireLocked drops entries from the front while they are older than
// ReplayWindow. If the clock went backwards, later entries may be older
// than the front; they stay until the front expires, which only keeps them
// longer.
func (c *ReplayCache) expireLocked(now time.Time) {
	for c.head < len(c.order) && now.Sub(c.order[c.head].at) > ReplayWindow {
		c.popLocked()
	}
}

// popLocked drops the oldest entry and compacts the queue once half of it is
// dead.
func (c *ReplayCache) popLocked() {
	if c.head >= len(c.order) {
		return
	}
	delete(c.seen, c.order[c.head].id)
	c.order[c.head] = replayEntry{}
	c.head++
	if c.head > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
}
