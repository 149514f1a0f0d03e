package calls

import (
	"os"
	"strings"
	"testing"

	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// TestCallTableDocumented checks that docs/protocol.md shows the table the
// code runs.
func TestCallTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := CallTableMarkdown(); !strings.Contains(string(doc), want) {
		t.Fatalf("docs/protocol.md does not hold the call state table; paste this:\n%s", want)
	}
}

// TestCallStateWalk puts a real call in every state, feeds it every input
// through the call's own methods and checks the state and the event
// against the table, and that nothing leaves "ended" or goes back.
func TestCallStateWalk(t *testing.T) {
	svc := newTestNode(t, "alice")
	events, stop := svc.Events.Subscribe()
	defer stop()
	order := map[State]int{}
	for i, s := range States {
		order[s] = i
	}
	for _, s := range States {
		for _, in := range Inputs {
			t.Run(string(s)+"/"+strings.ReplaceAll(string(in), " ", "-"), func(t *testing.T) {
				var id callproto.CallID
				id[0], id[1] = byte(order[s]), byte(len(in))
				c := svc.newCall(id, true, svc.ID.AccountCert.ID, callproto.CallID{})
				if s == StateEnded {
					c.end("test", "")
				}
				c.mu.Lock()
				c.state = s
				c.mu.Unlock()
				for len(events) > 0 {
					<-events
				}
				if in == InEnd {
					c.end("test", "")
				} else {
					c.step(in, "test.event", "")
				}
				got := State(c.info().State)
				want, moves := StepCall(s, in)
				if !moves {
					want = s
				}
				if got != want {
					t.Fatalf("state %s, want %s", got, want)
				}
				if order[got] < order[s] {
					t.Fatalf("went back from %s to %s", s, got)
				}
				evs := 0
				for len(events) > 0 {
					if e := <-events; e.Type == "test.event" || e.Type == apitype.EventCallEnded {
						evs++
					}
				}
				if wantEv := map[bool]int{true: 1}[moves]; evs != wantEv {
					t.Fatalf("%d events, want %d", evs, wantEv)
				}
			})
		}
	}
}
