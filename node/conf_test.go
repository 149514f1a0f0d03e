package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
)

// confOf returns n's view of conference id.
func confOf(n *testNode, id string) (apitype.Conference, bool) {
	for _, c := range n.Conferences() {
		if c.ID == id {
			return c, true
		}
	}
	return apitype.Conference{}, false
}

// waitHears waits until n is in conference id with exactly the peers in
// want (device → tone Hz), each pairwise call connected and carrying that
// participant's tone — and none carrying n's own tone.
func waitHears(t testing.TB, n *testNode, id string, own float64, want map[string]float64) {
	t.Helper()
	test.WaitFor(t, 30*time.Second, func() error {
		cf, ok := confOf(n, id)
		if !ok {
			return fmt.Errorf("%s: not in conference", n.dir)
		}
		got := 0
		for _, p := range cf.Participants {
			if p.Self {
				continue
			}
			hz, ok := want[p.Device]
			if !ok {
				return fmt.Errorf("%s: unexpected participant %s", n.dir, p.Device)
			}
			if p.Call == nil || p.Call.State != "connected" || p.Call.ToneHz != hz {
				return fmt.Errorf("%s: participant %s: call %+v, want tone %v", n.dir, p.Device, p.Call, hz)
			}
			if p.Call.ToneHz == own {
				t.Fatalf("%s hears its own tone back from %s", n.dir, p.Device)
			}
			got++
		}
		if got != len(want) {
			return fmt.Errorf("%s: %d participants heard, want %d", n.dir, got, len(want))
		}
		return nil
	})
}

func device(n *testNode) string { return n.Keys().DeviceCert.Device.String() }

// TestConferenceFullMesh: four participants, each sending its own tone;
// every participant hears the three others on their own pairwise calls and
// never itself. Then one leaves and another joins late: the rest keep
// going and the newcomer hears everyone. Then one drops off the network:
// the others notice and continue.
func TestConferenceFullMesh(t *testing.T) {
	bs := startBootstraps(t, 1)
	names := []string{"a", "b", "c", "d", "e"}
	freqs := []float64{400, 600, 800, 1000, 1200}
	var nodes []*testNode
	for _, name := range names {
		nodes = append(nodes, startNode(t, initAccount(t, name), bs))
	}
	waitPublished(t, nodes...)
	host := nodes[0]
	for _, n := range nodes[1:] {
		befriend(t, host, n)
	}
	ctx := context.Background()
	tone := func(i int) apitype.CallRequest { return apitype.CallRequest{Audio: fmt.Sprintf("tone:%.0f", freqs[i])} }
	cf, err := host.StartConference(0, tone(0))
	if err != nil {
		t.Fatal(err)
	}
	if cf.Max != 8 {
		t.Fatalf("default max = %d, want 8", cf.Max)
	}
	join := func(i int) {
		t.Helper()
		if err := host.InviteToConference(ctx, cf.ID, nodes[i].account); err != nil {
			t.Fatal(err)
		}
		test.WaitFor(t, 10*time.Second, func() error {
			if _, ok := confOf(nodes[i], cf.ID); !ok {
				return fmt.Errorf("%s has no invitation", nodes[i].dir)
			}
			return nil
		})
		if _, err := nodes[i].JoinConference(ctx, cf.ID, tone(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		join(i)
	}
	hears := func(members ...int) {
		t.Helper()
		for _, i := range members {
			want := map[string]float64{}
			for _, j := range members {
				if j != i {
					want[device(nodes[j])] = freqs[j]
				}
			}
			waitHears(t, nodes[i], cf.ID, freqs[i], want)
		}
	}
	hears(0, 1, 2, 3)

	// d leaves; e joins late.
	if err := nodes[3].LeaveConference(ctx, cf.ID); err != nil {
		t.Fatal(err)
	}
	join(4)
	hears(0, 1, 2, 4)

	// b drops off the network without hanging up (its host and its
	// calls' sockets are torn down, as when the process is killed): the
	// others notice and go on. Closing the host alone would leave b's ICE
	// sending media, and a call whose signalling rode the relay goes on
	// on its media path by design.
	if err := nodes[1].Host().Close(); err != nil {
		t.Fatal(err)
	}
	nodes[1].VanishForTest()
	start := time.Now()
	hears(0, 2, 4)
	t.Logf("the others dropped the vanished participant within %v", time.Since(start).Round(time.Millisecond))
}

// TestConferenceInviteAllFirst is the natural order: the host invites
// everyone, then they join — two of them at the same moment, one later.
// Each invitee's invitation lists only the host, yet every participant
// must end up hearing every other (issue: invitees who joined this way
// heard only the host).
func TestConferenceInviteAllFirst(t *testing.T) {
	bs := startBootstraps(t, 1)
	freqs := []float64{500, 700, 900, 1100}
	var nodes []*testNode
	for _, name := range []string{"h", "p", "q", "r"} {
		nodes = append(nodes, startNode(t, initAccount(t, name), bs))
	}
	waitPublished(t, nodes...)
	host := nodes[0]
	for _, n := range nodes[1:] {
		befriend(t, host, n)
	}
	ctx := context.Background()
	tone := func(i int) apitype.CallRequest { return apitype.CallRequest{Audio: fmt.Sprintf("tone:%.0f", freqs[i])} }
	cf, err := host.StartConference(0, tone(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		if err := host.InviteToConference(ctx, cf.ID, n.account); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes[1:] {
		test.WaitFor(t, 10*time.Second, func() error {
			if _, ok := confOf(n, cf.ID); !ok {
				return fmt.Errorf("%s has no invitation", n.dir)
			}
			return nil
		})
	}
	joinErr := make(chan error, 2)
	for _, i := range []int{1, 2} {
		go func() {
			_, err := nodes[i].JoinConference(ctx, cf.ID, tone(i))
			joinErr <- err
		}()
	}
	for range 2 {
		if err := <-joinErr; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nodes[3].JoinConference(ctx, cf.ID, tone(3)); err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		want := map[string]float64{}
		for j := range nodes {
			if j != i {
				want[device(nodes[j])] = freqs[j]
			}
		}
		waitHears(t, nodes[i], cf.ID, freqs[i], want)
	}
}
