package calltransport

import (
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/pktcount"
	"github.com/pion/transport/v5/stdnet"
)

// TestKeepaliveBudget counts, on the legs' real sockets, the datagrams of
// a direct call that has settled, with relay candidates gathered from a
// real TURN server: besides media, only consent checks on the selected
// pair (a request and an answer per KeepaliveInterval each way), and
// nothing to or from TURN (issue 16 item 12: pion's automatic
// renomination checked every pair every second, some through TURN).
func TestKeepaliveBudget(t *testing.T) {
	ts := startTURN(t, nil)
	nets := map[bool]*pktcount.Net{}
	p := newLegPair(t, func(c *Config) {
		inner, err := stdnet.NewNet()
		if err != nil {
			t.Fatal(err)
		}
		nets[c.Controlling] = pktcount.New(inner)
		c.Net = nets[c.Controlling]
		c.Servers = []ICEServer{{URL: "stun:" + ts.udpAddr}, ts.turnServer("udp", "dev")}
	})
	p.start()
	p.waitConnected(10 * time.Second)
	ma, mb := p.startMedia()
	collect(ma)
	collect(mb)
	waitFor(t, 5*time.Second, "relay candidates gathered", func() error {
		if n := ts.AllocationCount(); n < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if path := p.a.Path(); path.Local == "relay" || path.Remote == "relay" {
		t.Fatalf("path %+v, want a direct pair", path)
	}
	// Setup's checks end when the pair is selected; a second more lets
	// late answers and the first consent round pass.
	time.Sleep(time.Second) // a measurement window, not a wait for state
	before := map[bool]pktcount.Counts{true: nets[true].Counts(), false: nets[false].Counts()}
	const window = 6 * time.Second
	start := time.Now()
	for i := 0; time.Since(start) < window; i++ {
		_ = ma.WriteRTP(testPacket(0x1111, uint16(i), make([]byte, 160)))
		_ = mb.WriteRTP(testPacket(0x2222, uint16(i), make([]byte, 160)))
		time.Sleep(20 * time.Millisecond) // media pacing
	}
	secs := time.Since(start).Seconds()
	var nonMedia, turn uint64
	for side, n := range nets {
		c := n.Counts().Sub(before[side])
		s, _ := c.Sum(func(k pktcount.Kind) bool { return !k.Media() })
		ts, _ := c.Sum(pktcount.Kind.TURN)
		media, _ := c.Sum(pktcount.Kind.Media)
		t.Logf("controlling=%t: sent %.1f non-media datagrams/s, %.1f to TURN, %.1f media", side, float64(s)/secs, float64(ts)/secs, float64(media)/secs)
		nonMedia += s
		turn += ts
	}
	// Each side sends a consent request and answers the other's per
	// KeepaliveInterval: 4 datagrams per interval, 2 a second; 4 a
	// second is the goal.
	if got := float64(nonMedia) / secs; got > 4 {
		t.Errorf("%.1f non-media datagrams/s in a settled direct call, want at most 4", got)
	}
	if turn != 0 {
		t.Errorf("%d datagrams to TURN in %.0f s of a direct call, want none", turn, secs)
	}
}
