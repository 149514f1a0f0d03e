package natlab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// fakeCall makes a connected call result with the given setup and paths.
func fakeCall(a, b Kind, setup time.Duration, kind, network string) CallResult {
	end := func(n string) End {
		return End{Setup: setup, Call: apitype.Call{Path: apitype.CallPath{Kind: kind, Network: n},
			Streams: []apitype.Stream{{Direction: "receive", Kind: "audio", Packets: 95, Lost: 5}}}}
	}
	return CallResult{Caller: a, Callee: b, Delay: 25 * time.Millisecond, Connected: true, CallerEnd: end(network), CalleeEnd: end("udp")}
}

func TestReportTables(t *testing.T) {
	t.Parallel()
	m := &MatrixResult{Delay: 25 * time.Millisecond, Cells: []Cell{
		{Caller: Cone, Callee: Cone, Runs: []CallResult{
			fakeCall(Cone, Cone, 100*time.Millisecond, "direct", "udp"),
			fakeCall(Cone, Cone, 300*time.Millisecond, "direct", "udp"),
			fakeCall(Cone, Cone, 200*time.Millisecond, "direct", "udp"),
		}},
		{Caller: UDPBlocked, Callee: None, Runs: []CallResult{fakeCall(UDPBlocked, None, 450*time.Millisecond, "relay", "tcp")}},
		{Caller: Symmetric, Callee: Symmetric, Runs: []CallResult{fakeCall(Symmetric, Symmetric, 50*time.Millisecond, "direct", "udp")}},
		{Caller: None, Callee: None, Runs: []CallResult{{Caller: None, Callee: None, Err: "boom"}}},
	}}
	table := m.Table()
	for _, want := range []string{
		"| **cone** | – | 200 ms · direct/udp | – | – |",
		"| **udp-blocked** | 450 ms · relay/tcp | – | – | – |",
		"50 ms · direct/udp ⚠ expected relay",
		"| **none** | ✗ failed (1 runs) |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	details := m.Details()
	for _, want := range []string{
		"| cone → cone | 3/3 | 200 ms | 200 ms | 200 ms | 100 ms–300 ms | direct/udp | 5.0% | ≤ 300 ms ✓ |",
		"| udp-blocked → none | 1/1 | 450 ms |",
		"≤ 400 ms ✗",
	} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
	var b bytes.Buffer
	if err := WriteReport(&b, []*MatrixResult{m}, MatrixOptions{Runs: 3}, Machine{OS: "TestOS", Cores: 2}, time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Connectivity matrix", "2030-01-02 03:04 UTC", "TestOS", "## 25 ms one-way delay", "Goals at 25 ms", "## Method",
		"- none → none, call 1 of 1: boom"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestCleanupStale deletes the namespaces of a lab whose process is gone
// and leaves alone those of a live process and every other name.
func TestCleanupStale(t *testing.T) {
	t.Parallel()
	skipUnsupported(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := "plab" + strconv.Itoa(dead.Process.Pid) + "-1-inet"
	live := "plab" + strconv.Itoa(os.Getpid()) + "-999-h1"
	other := "plab" + strconv.Itoa(dead.Process.Pid) + "-mine"
	for _, ns := range []string{stale, live, other} {
		if _, err := run(t.Context(), "", "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = run(context.Background(), "", "ip", "netns", "delete", ns) })
	}
	deleted, err := CleanupStale(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if nsExists(stale) || !slices.Contains(deleted, stale) {
		t.Errorf("stale %s not deleted (deleted %v)", stale, deleted)
	}
	if !nsExists(live) || !nsExists(other) {
		t.Errorf("deleted a live lab's or a foreign namespace (deleted %v)", deleted)
	}
}

// TestTimelineMerged: the slowest call's two timelines are placed on the
// `parley call` clock and merged in time order, with the gap to the step
// before each.
func TestTimelineMerged(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)
	slow := fakeCall(Cone, Symmetric, 400*time.Millisecond, "relay", "udp")
	slow.Start = t0
	slow.CallerEnd.Call.Started = t0.Add(2 * time.Millisecond)
	slow.CallerEnd.Call.Timeline = []apitype.CallMark{{Step: apitype.StepRequested, MS: 0}, {Step: apitype.StepOfferSent, MS: 30}, {Step: apitype.StepAnswered, MS: 150}}
	slow.CalleeEnd.Call.Started = t0.Add(60 * time.Millisecond)
	slow.CalleeEnd.Call.Timeline = []apitype.CallMark{{Step: apitype.StepOfferReceived, MS: 0}, {Step: apitype.StepAnswerSent, MS: 40}}
	m := &MatrixResult{Delay: 25 * time.Millisecond, Cells: []Cell{
		{Caller: Cone, Callee: Cone, Runs: []CallResult{fakeCall(Cone, Cone, 100*time.Millisecond, "direct", "udp")}},
		{Caller: Cone, Callee: Symmetric, Runs: []CallResult{slow}},
	}}
	if got, ok := m.Slowest(true); !ok || got.Callee != Cone {
		t.Fatalf("slowest direct = %v %v, want the cone → cone call", got, ok)
	}
	got, ok := m.Slowest(false)
	if !ok || got.Callee != Symmetric {
		t.Fatalf("slowest = %v %v, want the cone → symmetric call", got, ok)
	}
	tl := got.Timeline()
	want := []string{
		"| 2.0 | caller | requested | +2.0 |",
		"| 32.0 | caller | offer_sent | +30.0 |",
		"| 60.0 | callee | offer_received | +28.0 |",
		"| 100.0 | callee | answer_sent | +40.0 |",
		"| 152.0 | caller | answer_received | +52.0 |",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(tl, w)
		if i < 0 || i < last {
			t.Fatalf("timeline lacks %q in order:\n%s", w, tl)
		}
		last = i
	}
}
