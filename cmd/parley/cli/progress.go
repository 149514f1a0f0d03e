package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"golang.org/x/term"
)

// progress tells a person at a terminal what a slow command is doing
// (resolving, connecting, ringing), on standard error. When standard
// error is not a terminal it says nothing, so scripts see only results.
type progress struct {
	mu sync.Mutex
	w  io.Writer // nil: not a terminal
}

func newProgress(g *globals) *progress {
	if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progress{w: g.stderr}
	}
	return &progress{}
}

func (p *progress) on() bool { return p.w != nil }

// say prints one step.
func (p *progress) say(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "… "+format+"\n", args...)
}

// during says msg, then every few seconds until stop is called that it
// is still at it, with the time spent.
func (p *progress) during(msg string) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	p.say("%s", msg)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.say("still %s (%s)", strings.TrimSuffix(msg, "…"), time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// followCall reports the call's steps from the daemon's events until ctx
// ends. It must be subscribed before the call starts: events holds the
// subscription and id gives the call's ID once it is known.
func (p *progress) followCall(ctx context.Context, g *globals, id <-chan string) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	st, err := g.client().Subscribe(ctx)
	if err != nil {
		return func() {}
	}
	evs := make(chan apitype.Event, 64)
	go func() {
		defer close(evs)
		for {
			ev, err := st.Next()
			if err != nil {
				return
			}
			if strings.HasPrefix(string(ev.Type), "call.") {
				select {
				case evs <- ev:
				default: // a slow terminal loses progress lines, nothing else
				}
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var call string
		var early []apitype.Event
		for {
			select {
			case c, ok := <-id:
				if !ok {
					id = nil
					continue
				}
				call = c
				for _, ev := range early {
					p.callStep(ev)
				}
				early = nil
				id = nil
			case ev, ok := <-evs:
				if !ok {
					return
				}
				switch {
				case call == "":
					if len(early) < 64 {
						early = append(early, ev)
					}
				case ev.Call == call:
					p.callStep(ev)
				}
			}
		}
	}()
	return func() { st.Close(); <-done }
}

// callStep says what a call event means for the caller.
func (p *progress) callStep(ev apitype.Event) {
	switch ev.Type {
	case apitype.EventCallRinging:
		p.say("%s", safe(ev.Message))
	case apitype.EventCallAnswered:
		p.say("answered; connecting the media (ICE)…")
	case apitype.EventCallConnected:
		p.say("connected: %s; waiting for the first media…", safe(ev.Message))
	case apitype.EventCallMedia:
		p.say("media flowing")
	}
}
