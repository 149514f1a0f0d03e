package natlab

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/pktcount"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/wait"
)

// TestKeepaliveTraffic counts, in the caller's host namespace, the UDP
// datagrams of a settled call besides libp2p's (issue 16 item 12): a
// direct call (cone → cone) and one through TURN (cone → symmetric), each
// measured for 10 s starting 5 s after media flows. The direct call may
// send at most 4 non-media datagrams a second in all and nothing to or
// from TURN.
func TestKeepaliveTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for 30 s")
	}
	t.Parallel()
	s := startSession(t, Cast{Callers: []Kind{Cone}, Callees: []Kind{Cone, Symmetric}}, 0, nil)
	ctx := t.Context()
	from := s.Callers[Cone]
	st, err := from.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	quicPort := uint16(0) // libp2p's QUIC socket: not ICE's
	for _, a := range st.Addrs {
		if f := strings.Split(a, "/"); len(f) >= 6 && f[3] == "udp" && f[5] == "quic-v1" {
			p, _ := strconv.ParseUint(f[4], 10, 16)
			quicPort = uint16(p)
		}
	}
	if quicPort == 0 {
		t.Fatalf("no QUIC address in %v", st.Addrs)
	}
	for _, callee := range []Kind{Cone, Symmetric} {
		to := s.Callees[callee]
		var c apitype.Call
		if err := from.CLIJSON(ctx, &c, "call", to.AccountID, "--wait", callWait.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := from.WaitCall(ctx, c.ID, func(c apitype.Call) bool { return c.ToneHz != 0 }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // settling before the measurement window
		capt, err := s.Lab.StartCapture(from.Site.Host, func(p Packet) bool {
			return p.Proto == 17 && p.Src.Port() != quicPort && p.Dst.Port() != quicPort
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		time.Sleep(10 * time.Second) // the measurement window
		pkts := capt.Stop()
		secs := time.Since(start).Seconds()
		c, err = from.Call(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var sent, recv pktcount.Counts
		for _, p := range pkts {
			k := pktcount.Classify(p.Payload)
			if p.Src.Addr() == from.Site.HostAddr {
				sent.Sent[k]++
			} else {
				recv.Received[k]++
			}
		}
		var b strings.Builder
		for _, k := range pktcount.Kinds {
			if sent.Sent[k]+recv.Received[k] > 0 {
				fmt.Fprintf(&b, "\n  %-26s sent %5.1f/s  received %5.1f/s", k, float64(sent.Sent[k])/secs, float64(recv.Received[k])/secs)
			}
		}
		nonMediaSent, _ := sent.Sum(func(k pktcount.Kind) bool { return !k.Media() })
		_, nonMediaRecv := recv.Sum(func(k pktcount.Kind) bool { return !k.Media() })
		turnSent, _ := sent.Sum(pktcount.Kind.TURN)
		_, turnRecv := recv.Sum(pktcount.Kind.TURN)
		t.Logf("cone → %v, path %s (%s→%s): caller's datagrams over %.0f s:%s\n  non-media: sent %.1f/s, received %.1f/s; TURN: sent %.1f/s, received %.1f/s",
			callee, c.Path.Kind, c.Path.Local, c.Path.Remote, secs, b.String(),
			float64(nonMediaSent)/secs, float64(nonMediaRecv)/secs, float64(turnSent)/secs, float64(turnRecv)/secs)
		if c.Path.Kind == "direct" {
			if r := float64(nonMediaSent+nonMediaRecv) / secs; r > 4 {
				t.Errorf("direct call: %.1f non-media datagrams/s at the caller, want at most 4", r)
			}
			if turnSent+turnRecv != 0 {
				t.Errorf("direct call: %d datagrams to or from TURN in %.0f s, want none", turnSent+turnRecv, secs)
			}
		}
		if _, err := from.CLI(ctx, "hangup", c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := to.WaitCall(ctx, c.ID, wait.CallIs("ended")); err != nil {
			t.Fatal(err)
		}
	}
}
