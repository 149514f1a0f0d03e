package calltransport

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
)

// TestVNet runs a call over a pion virtual network through Config.Net: no
// real socket is opened, and the path is the virtual LAN.
func TestVNet(t *testing.T) {
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.9.0.0/24", LoggerFactory: newPionLogFactory(discard(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	nets := map[bool]*vnet.Net{}
	for i, controlling := range []bool{true, false} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{fmt.Sprintf("10.9.0.%d", i+2)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		nets[controlling] = n
	}
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = router.Stop() })

	p := newLegPair(t, func(c *Config) {
		c.Net = nets[c.Controlling]
		c.IncludeLoopback, c.IPFilter = false, nil
		c.ReportInterval = -1
	})
	p.start()
	p.waitConnected(10 * time.Second)
	if path := p.a.Path(); path.Local != "host" || path.LocalAddress[:7] != "10.9.0." {
		t.Errorf("Path() = %+v, want a host pair on the virtual LAN", path)
	}
	ma, mb := p.startMedia()
	chB := collect(mb)
	for i := range 5 {
		if err := ma.WriteRTP(testPacket(0x1111, uint16(i), []byte(fmt.Sprintf("a→b %d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	checkStream(t, expectSSRC(t, chB, 0x1111, 5, 5*time.Second), 0x1111, "a→b")
}
