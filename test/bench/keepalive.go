package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v5/stdnet"

	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/internal/pktcount"
	"github.com/parleyhq/parley/node/calltransport"
)

// keepaliveOptions configure the keepalive bench.
type keepaliveOptions struct {
	settle, window time.Duration
	loopbackOnly   bool
}

// keepaliveRow is one call's datagrams over the window, per end.
type keepaliveRow struct {
	name       string
	path       string
	a, b       pktcount.Counts // a controls (the caller), b is controlled
	window     time.Duration
	localCands int
}

// keepaliveCmd measures the datagrams per second, by kind, at both ends of
// a call (issue 16 item 12): two calltransport legs in this process on real
// UDP sockets, with the bootstrap's TURN server (bootstrap/turnsrv) on
// loopback for srflx and relay candidates, each leg's sockets counted by
// internal/pktcount. Both sides send 50 RTP packets a second (G.711
// framing); the count starts -settle after the call connected (setup's
// checks are over) and lasts -window. "direct" gathers every candidate
// type on every IPv4 interface (loopback included); "relayed" gathers relay
// candidates only (privacy mode).
//
//	go run ./test/bench keepalive [-window 10s] [-settle 5s] [-loopback]
func keepaliveCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("keepalive", flag.ExitOnError)
	o := keepaliveOptions{}
	fs.DurationVar(&o.window, "window", 10*time.Second, "how long to count")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "wait after connecting before counting")
	fs.BoolVar(&o.loopbackOnly, "loopback", false, "gather host candidates on 127.0.0.1 only")
	_ = fs.Parse(args)
	rows, err := keepaliveBench(ctx, o)
	if err != nil {
		return err
	}
	printKeepalive(w, rows)
	return nil
}

func keepaliveBench(ctx context.Context, o keepaliveOptions) ([]keepaliveRow, error) {
	var rows []keepaliveRow
	for _, relayOnly := range []bool{false, true} {
		name := "direct"
		if relayOnly {
			name = "relayed"
		}
		progressf("keepalive: %s call, settle %v, count %v", name, o.settle, o.window)
		r, err := keepaliveCall(ctx, o, relayOnly)
		if err != nil {
			return nil, fmt.Errorf("keepalive: %s: %w", name, err)
		}
		r.name = name
		rows = append(rows, r)
	}
	return rows, nil
}

// keepaliveCall runs one call with a fresh TURN server and counts.
func keepaliveCall(ctx context.Context, o keepaliveOptions, relayOnly bool) (keepaliveRow, error) {
	var row keepaliveRow
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return row, err
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ts, err := turnsrv.New(turnsrv.Config{
		Secret: secret, RelayIP: net.IPv4(127, 0, 0, 1), RelayBindAddr: "127.0.0.1",
		PacketConns: []net.PacketConn{pc}, AllowPrivatePeers: true, Logger: quiet,
	})
	if err != nil {
		pc.Close()
		return row, err
	}
	defer ts.Close()

	mk := func(controlling bool, side string) (*calltransport.Leg, *pktcount.Net, error) {
		inner, err := stdnet.NewNet()
		if err != nil {
			return nil, nil, err
		}
		cn := pktcount.New(inner)
		user, pass := turnsrv.Credentials(secret, "bench-"+side, time.Hour, time.Now())
		c := calltransport.Config{
			Controlling: controlling, RelayOnly: relayOnly, Net: cn, IncludeLoopback: true, Logger: quiet,
			Servers: []calltransport.ICEServer{
				{URL: "stun:" + pc.LocalAddr().String()},
				{URL: "turn:" + pc.LocalAddr().String() + "?transport=udp", Username: user, Password: pass},
			},
		}
		if o.loopbackOnly {
			c.IPFilter = func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil }
		} else {
			c.IPFilter = func(ip net.IP) bool { return ip.To4() != nil }
		}
		l, err := calltransport.NewLeg(c)
		return l, cn, err
	}
	a, na, err := mk(true, "a")
	if err != nil {
		return row, err
	}
	defer a.Close()
	b, nb, err := mk(false, "b")
	if err != nil {
		return row, err
	}
	defer b.Close()
	forward := func(to *calltransport.Leg) func(string) {
		return func(c string) {
			if c != "" {
				row.localCands++
			}
			_ = to.AddRemoteCandidate(c)
		}
	}
	a.OnCandidate(forward(b))
	b.OnCandidate(forward(a))
	au, ap := a.LocalCredentials()
	bu, bp := b.LocalCredentials()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := a.Start(sctx, bu, bp); err != nil {
		return row, err
	}
	if err := b.Start(sctx, au, ap); err != nil {
		return row, err
	}
	for _, l := range []*calltransport.Leg{a, b} {
		if err := l.WaitConnected(sctx); err != nil {
			return row, err
		}
	}
	key := make([]byte, 16)
	salt := make([]byte, 12)
	_, _ = rand.Read(key)
	_, _ = rand.Read(salt)
	key2 := make([]byte, 16)
	salt2 := make([]byte, 12)
	_, _ = rand.Read(key2)
	_, _ = rand.Read(salt2)
	ma, err := a.StartMedia(calltransport.Keys{LocalKey: key, LocalSalt: salt, RemoteKey: key2, RemoteSalt: salt2}, 0)
	if err != nil {
		return row, err
	}
	mb, err := b.StartMedia(calltransport.Keys{LocalKey: key2, LocalSalt: salt2, RemoteKey: key, RemoteSalt: salt}, 0)
	if err != nil {
		return row, err
	}
	stop := make(chan struct{})
	defer close(stop)
	for _, m := range []*calltransport.Media{ma, mb} {
		go func() { // drain
			for {
				if _, err := m.ReadRTP(); err != nil {
					return
				}
			}
		}()
		go func() { // 50 packets/s of 160-byte G.711
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			var seq uint16
			ssrc := uint32(0x1000) + uint32(len(row.path))
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				seq++
				_ = m.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc}, Payload: make([]byte, 160)})
			}
		}()
	}
	if err := sleepCtx(ctx, o.settle); err != nil {
		return row, err
	}
	a0, b0 := na.Counts(), nb.Counts()
	start := time.Now()
	if err := sleepCtx(ctx, o.window); err != nil {
		return row, err
	}
	row.a, row.b = na.Counts().Sub(a0), nb.Counts().Sub(b0)
	row.window = time.Since(start)
	p := a.Path()
	row.path = p.Local + "/" + p.Remote
	return row, nil
}

// printKeepalive prints datagrams per second by kind, per call and end.
func printKeepalive(w io.Writer, rows []keepaliveRow) {
	fmt.Fprintf(w, "| call | kind | caller sent/s | caller received/s | callee sent/s | callee received/s |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		s := r.window.Seconds()
		label := fmt.Sprintf("%s (%s, %d candidates in all)", r.name, r.path, r.localCands)
		for _, k := range pktcount.Kinds {
			if r.a.Sent[k]+r.a.Received[k]+r.b.Sent[k]+r.b.Received[k] == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | %.1f | %.1f |\n", label, k,
				float64(r.a.Sent[k])/s, float64(r.a.Received[k])/s, float64(r.b.Sent[k])/s, float64(r.b.Received[k])/s)
		}
		sum := func(keep func(pktcount.Kind) bool) string {
			as, ar := r.a.Sum(keep)
			bs, br := r.b.Sum(keep)
			return fmt.Sprintf("%.1f | %.1f | %.1f | %.1f", float64(as)/s, float64(ar)/s, float64(bs)/s, float64(br)/s)
		}
		fmt.Fprintf(w, "| %s | **non-media (not SRTP/SRTCP)** | %s |\n", label, sum(func(k pktcount.Kind) bool { return !k.Media() }))
		fmt.Fprintf(w, "| %s | **to/from TURN** | %s |\n", label, sum(pktcount.Kind.TURN))
	}
}
