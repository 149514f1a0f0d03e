package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/testnet"
)

// Timeouts of the setup bench: generous, they only catch a stuck call.
const (
	callConnectTimeout = 20 * time.Second
	callEndTimeout     = 10 * time.Second
)

// turnLoopback are parley-bootstrap flags for STUN/TURN on loopback, as a
// real deployment has TURN (the bench's paths stay direct).
var turnLoopback = daemon.LoopbackTURNArgs

// callTimes are one call's milestones, measured from the moment alice's
// StartCall was called.
type callTimes struct {
	returned   time.Duration // StartCall returned
	offer      time.Duration // call.incoming on bob: the offer arrived
	alice, bob time.Duration // call.media: first decrypted media packet
	// aliceSetup and bobSetup are the nodes' own SetupMS (bob's counts
	// from the offer's arrival).
	aliceSetup, bobSetup float64
	path                 string
}

// both is when media had arrived at both ends.
func (t callTimes) both() time.Duration { return max(t.alice, t.bob) }

// callSetupBench times nCalls calls between two in-process nodes.
func callSetupBench(ctx context.Context, w io.Writer, env *benchEnv, bootBin string, nCalls int) error {
	boots, boot, err := env.startBootstraps(ctx, bootBin, 1, turnLoopback...)
	defer func() {
		for _, p := range boots {
			p.Stop() // free the CPU for the next parts
		}
	}()
	if err != nil {
		return err
	}
	net, err := env.nodeNetwork("setup", boot, nil)
	if err != nil {
		return err
	}
	defer net.Close()
	alice, err := net.AddNode("alice", nil)
	if err != nil {
		return err
	}
	bob, err := net.AddNode("bob", nil)
	if err != nil {
		return err
	}
	if err := testnet.WaitPublished(ctx, alice, bob); err != nil {
		return err
	}
	if err := testnet.Befriend(ctx, alice, bob); err != nil {
		return err
	}
	if err := bob.SetSetting(node.SettingAutoAnswer, "contacts"); err != nil {
		return err
	}

	evA, stopA := alice.Subscribe()
	defer stopA()
	evB, stopB := bob.Subscribe()
	defer stopB()
	streams := [2]eventStream{{"alice", evA}, {"bob", evB}}
	var all []callTimes
	for i := range nCalls {
		t, err := timeCall(ctx, alice, bob, streams)
		if err != nil {
			return fmt.Errorf("call %d of %d: %w", i+1, nCalls, err)
		}
		all = append(all, t)
	}
	printSetup(w, all)
	return nil
}

// timeCall places one call from alice to bob (who auto-answers), waits for
// first media on both sides, hangs up and waits for the end on both sides.
func timeCall(ctx context.Context, alice, bob *testnet.Node, streams [2]eventStream) (callTimes, error) {
	var t callTimes
	start := time.Now()
	c, err := alice.StartCall(ctx, apitype.CallRequest{AccountID: bob.Account.String(), Audio: "tone"})
	t.returned = time.Since(start)
	if err != nil {
		return t, err
	}
	seen, err := waitCallEvents(ctx, callConnectTimeout, c.ID, streams,
		[2][]apitype.EventType{{apitype.EventCallMedia}, {apitype.EventCallIncoming, apitype.EventCallMedia}})
	if err != nil {
		_ = alice.HangUp(apitype.CallAction{CallID: c.ID})
		return t, err
	}
	t.offer = seen[1][apitype.EventCallIncoming].Time.Sub(start)
	t.alice = seen[0][apitype.EventCallMedia].Time.Sub(start)
	t.bob = seen[1][apitype.EventCallMedia].Time.Sub(start)
	if ac, ok := findCall(alice.Calls(), c.ID); ok {
		t.aliceSetup, t.path = ac.SetupMS, ac.Path.Kind
	}
	if bc, ok := findCall(bob.Calls(), c.ID); ok {
		t.bobSetup = bc.SetupMS
	}
	if err := alice.HangUp(apitype.CallAction{CallID: c.ID}); err != nil {
		return t, err
	}
	_, err = waitCallEvents(ctx, callEndTimeout, c.ID, streams,
		[2][]apitype.EventType{{apitype.EventCallEnded}, {apitype.EventCallEnded}})
	return t, err
}

// findCall returns the call with the given ID from a Calls list.
func findCall(cs []apitype.Call, id string) (apitype.Call, bool) {
	for _, c := range cs {
		if c.ID == id {
			return c, true
		}
	}
	return apitype.Call{}, false
}

// eventStream is one node's event stream.
type eventStream struct {
	name string
	ch   <-chan apitype.Event
}

// waitCallEvents reads both streams until, for call id, stream i has shown
// every event type in want[i]; it returns the first event of each type seen
// per stream. Events of other calls are skipped. A call.ended that is not
// wanted is ErrCallEnded.
func waitCallEvents(ctx context.Context, timeout time.Duration, id string, s [2]eventStream, want [2][]apitype.EventType) ([2]map[apitype.EventType]apitype.Event, error) {
	seen := [2]map[apitype.EventType]apitype.Event{{}, {}}
	complete := func() bool {
		for i := range seen {
			for _, typ := range want[i] {
				if _, ok := seen[i][typ]; !ok {
					return false
				}
			}
		}
		return true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !complete() {
		var ev apitype.Event
		var ok bool
		var i int
		select {
		case <-ctx.Done():
			return seen, ctx.Err()
		case <-timer.C:
			return seen, fmt.Errorf("call %s: no %v / %v within %v (seen: %s: %v, %s: %v)",
				id, want[0], want[1], timeout, s[0].name, keys(seen[0]), s[1].name, keys(seen[1]))
		case ev, ok = <-s[0].ch:
		case ev, ok = <-s[1].ch:
			i = 1
		}
		if !ok {
			return seen, fmt.Errorf("%s's event stream closed", s[i].name)
		}
		if ev.Call != id {
			continue
		}
		if _, dup := seen[i][ev.Type]; !dup {
			seen[i][ev.Type] = ev
		}
		if ev.Type == apitype.EventCallEnded && !slices.Contains(want[i], ev.Type) {
			return seen, fmt.Errorf("%w on %s's side: %s", ErrCallEnded, s[i].name, ev.Message)
		}
	}
	return seen, nil
}

func keys(m map[apitype.EventType]apitype.Event) []apitype.EventType {
	var out []apitype.EventType
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// printSetup prints the setup table and the goal.
func printSetup(w io.Writer, all []callTimes) {
	col := func(f func(callTimes) time.Duration) summary {
		var ds []time.Duration
		for _, t := range all {
			ds = append(ds, f(t))
		}
		return summarize(ds)
	}
	rows := []struct {
		name string
		s    summary
	}{
		{"StartCall returned (lookup done, offer being sent)", col(func(t callTimes) time.Duration { return t.returned })},
		{"offer arrived at bob (call.incoming)", col(func(t callTimes) time.Duration { return t.offer })},
		{"alice: first decrypted media (call.media)", col(func(t callTimes) time.Duration { return t.alice })},
		{"bob: first decrypted media (call.media)", col(func(t callTimes) time.Duration { return t.bob })},
		{"**both ends** (later of the two)", col(callTimes.both)},
	}
	fmt.Fprintf(w, "%d calls alice → bob, one after another (bob auto-answers contacts; tone audio both ways; "+
		"each hung up and ended on both sides before the next). Times from the moment alice's StartCall was called.\n\n", len(all))
	fmt.Fprintf(w, "| milestone | median | p95 | min | max |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", r.name, ms(r.s.median), ms(r.s.p95), ms(r.s.min), ms(r.s.max))
	}
	var aSetup, bSetup []time.Duration
	paths := map[string]int{}
	for _, t := range all {
		aSetup = append(aSetup, time.Duration(t.aliceSetup*float64(time.Millisecond)))
		bSetup = append(bSetup, time.Duration(t.bobSetup*float64(time.Millisecond)))
		paths[t.path]++
	}
	var ps []string
	for k, v := range paths {
		ps = append(ps, fmt.Sprintf("%d %s", v, k))
	}
	slices.Sort(ps)
	fmt.Fprintf(w, "\nCross-check, the nodes' own SetupMS (apitype.Call): alice median %.1f ms; bob median %.1f ms "+
		"(counted from the offer's arrival). Call 1 (the first: TURN credentials fetched from the bootstrap on the way): both ends %.1f ms. "+
		"Paths: %s.\n", ms(summarize(aSetup).median), ms(summarize(bSetup).median), ms(all[0].both()), strings.Join(ps, ", "))
	both := rows[len(rows)-1].s
	fmt.Fprintf(w, "\nGoal ≤ %.0f ms median, both ends: %s (%.1f ms).\n", ms(goalSetupMedian), verdict(both.median <= goalSetupMedian), ms(both.median))
}
