package bootstrap

import (
	"net"
	"testing"
	"time"
)

// TestListenTURNSharesPort: the TURN UDP sockets (several where
// SO_REUSEPORT is used) and the TCP listener share one port, each socket
// receives, and a process that does not join the group cannot bind it.
func TestListenTURNSharesPort(t *testing.T) {
	sockets := 3
	if !haveReusePort {
		sockets = 1
	}
	pcs, ln, err := listenTURN("127.0.0.1:0", sockets)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer closeAll(pcs)
	if len(pcs) != sockets {
		t.Fatalf("%d UDP sockets, want %d", len(pcs), sockets)
	}
	port := pcs[0].LocalAddr().(*net.UDPAddr).Port
	for i, pc := range pcs {
		if p := pc.LocalAddr().(*net.UDPAddr).Port; p != port {
			t.Errorf("socket %d on port %d, want %d", i, p, port)
		}
	}
	if p := ln.Addr().(*net.TCPAddr).Port; p != port {
		t.Errorf("TCP listener on port %d, want %d", p, port)
	}
	if pc, err := net.ListenPacket("udp", pcs[0].LocalAddr().String()); err == nil {
		pc.Close()
		t.Error("a plain socket could bind the TURN port")
	}

	// Datagrams from many source ports all arrive, spread over the
	// sockets by the kernel.
	got := make(chan int, 64)
	for i, pc := range pcs {
		go func() {
			buf := make([]byte, 16)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
				got <- i
			}
		}()
	}
	const senders = 32
	for range senders {
		c, err := net.Dial("udp", pcs[0].LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Write([]byte("x"))
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]int{}
	timeout := time.After(10 * time.Second)
	for range senders {
		select {
		case i := <-got:
			seen[i]++
		case <-timeout:
			t.Fatalf("received %v of %d datagrams", seen, senders)
		}
	}
	t.Logf("datagrams per socket: %v", seen)
}
