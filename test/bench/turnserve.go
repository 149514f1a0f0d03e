package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"

	"github.com/parleyhq/parley/bootstrap/turnsrv"
)

// turnServeCmd runs bootstrap/turnsrv alone — no libp2p host — on one UDP
// socket until interrupted, optionally writing a CPU profile. It is the
// relay bench's profiling target:
//
//	go run ./test/bench turnserve -secret-file F -listen 127.0.0.1:3478 -cpuprofile turn.pprof
func turnServeCmd(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("turnserve", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:3478", "UDP address for STUN and TURN")
	profile := fs.String("cpuprofile", "", "write a CPU profile here while serving")
	secretFile := fs.String("secret-file", "", "file holding the TURN REST secret (required)")
	_ = fs.Parse(args)
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		return fmt.Errorf("turnserve: -secret-file: %w", err)
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return fmt.Errorf("turnserve: %w", err)
	}
	if c, ok := pc.(*net.UDPConn); ok { // as parley-bootstrap does
		_ = c.SetReadBuffer(4 << 20)
		_ = c.SetWriteBuffer(4 << 20)
	}
	s, err := turnsrv.New(turnsrv.Config{
		Secret:            bytes.TrimSpace(secret),
		RelayIP:           pc.LocalAddr().(*net.UDPAddr).IP,
		PacketConns:       []net.PacketConn{pc},
		AllowPrivatePeers: true,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		pc.Close()
		return fmt.Errorf("turnserve: %w", err)
	}
	defer s.Close()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return fmt.Errorf("turnserve: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("turnserve: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(w, "turnserve: STUN/TURN on %s\n", pc.LocalAddr())
	<-ctx.Done()
	return nil
}
