package service

import (
	"sync"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// eventBuffer is how many events a slow subscriber may lag behind before it
// misses events (it is told with a "events.dropped" event).
const eventBuffer = 256

// Events fans out node events to subscribers (the local API's event stream).
type Events struct {
	mu   sync.Mutex // guards subs
	subs map[chan apitype.Event]struct{}
}

// Subscribe returns a channel of events and a function that ends the
// subscription and closes the channel.
func (e *Events) Subscribe() (<-chan apitype.Event, func()) {
	ch := make(chan apitype.Event, eventBuffer)
	e.mu.Lock()
	if e.subs == nil {
		e.subs = make(map[chan apitype.Event]struct{})
	}
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.subs, ch)
			e.mu.Unlock()
			close(ch)
		})
	}
}

// Publish delivers ev to every subscriber without blocking: a subscriber
// whose buffer is full misses the event.
func (e *Events) Publish(ev apitype.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}
