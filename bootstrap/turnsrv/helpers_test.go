package turnsrv

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/parleyhq/parley/test"
)

var testSecret = []byte("parley-test-secret-0001")

func newTestLogger(t *testing.T) (*slog.Logger, *test.SyncBuffer) {
	t.Helper()
	return test.Logger(t, levelTrace)
}

type testServer struct {
	*Server
	udpAddr string
	tcpAddr string
	metrics *Metrics
	log     *test.SyncBuffer
}

// startServer runs a server on fresh loopback UDP and TCP sockets, relaying
// on 127.0.0.1 with private peers allowed unless mod says otherwise.
func startServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger, lb := newTestLogger(t)
	ts := &testServer{
		udpAddr: pc.LocalAddr().String(),
		tcpAddr: ln.Addr().String(),
		metrics: new(Metrics),
		log:     lb,
	}
	cfg := Config{
		Secret:            testSecret,
		RelayIP:           net.IPv4(127, 0, 0, 1),
		RelayBindAddr:     "127.0.0.1",
		PacketConns:       []net.PacketConn{pc},
		Listeners:         []net.Listener{ln},
		AllowPrivatePeers: true,
		Logger:            logger,
		Metrics:           ts.metrics,
	}
	if mod != nil {
		mod(&cfg)
	}
	ts.Server, err = New(cfg)
	if err != nil {
		_ = pc.Close()
		_ = ln.Close()
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := ts.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ts
}

// dialTURN connects a pion TURN client to ts over network ("udp" or
// "tcp"). Closing the returned func tears the client down; it also runs at
// cleanup.
func dialTURN(t *testing.T, ts *testServer, network, username, password string) (*turn.Client, func()) {
	t.Helper()
	var (
		conn net.PacketConn
		addr string
	)
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = pc, ts.udpAddr
	case "tcp":
		c, err := net.Dial("tcp4", ts.tcpAddr)
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = turn.NewSTUNConn(c), ts.tcpAddr
	default:
		t.Fatalf("unknown network %q", network)
	}
	logger, _ := newTestLogger(t)
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Conn:           conn,
		Username:       username,
		Password:       password,
		LoggerFactory:  slogFactory{l: logger.With("side", "client")},
	})
	if err != nil {
		_ = conn.Close()
		t.Fatalf("turn.NewClient: %v", err)
	}
	if err := client.Listen(); err != nil {
		_ = conn.Close()
		t.Fatalf("Listen: %v", err)
	}
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			client.Close()
			_ = conn.Close()
		})
	}
	t.Cleanup(closeFn)
	return client, closeFn
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v still waiting for %s:\n%s", d, what, detail)
		}
		<-tick.C
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// turnAttrs is pion's request attribute type under a short name.
type turnAttrs = turn.RequestAttributes
