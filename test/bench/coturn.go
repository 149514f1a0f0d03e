package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// coturnTools are the coturn binaries the relay bench runs.
var coturnTools = []string{"turnserver", "turnutils_uclient", "turnutils_peer"}

// ensureCoturn finds coturn's binaries and, when one is missing and this
// process is root, installs the Debian package `coturn` (its service is
// not started: Debian's policy-rc.d or the missing init keep it down, and
// the bench starts its own turnserver on loopback). It returns the paths
// by name.
func ensureCoturn(ctx context.Context, progress func(string, ...any)) (map[string]string, error) {
	find := func() (map[string]string, error) {
		out := map[string]string{}
		for _, t := range coturnTools {
			p, err := exec.LookPath(t)
			if err != nil {
				return nil, fmt.Errorf("%w: %s", ErrCoturnMissing, t)
			}
			out[t] = p
		}
		return out, nil
	}
	if bins, err := find(); err == nil {
		return bins, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w, and not root to install it: apt-get install coturn", ErrCoturnMissing)
	}
	progress("installing the Debian package coturn…")
	for _, args := range [][]string{{"apt-get", "update", "-qq"}, {"apt-get", "install", "-y", "-qq", "--no-install-recommends", "coturn"}} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(cleanEnv(), "DEBIAN_FRONTEND=noninteractive")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, b)
		}
	}
	return find()
}

// coturnVersion is the version turnserver reports ("4.6.1"), or
// "unknown".
func coturnVersion(ctx context.Context, bin string) string {
	cmd := exec.CommandContext(ctx, bin, "--version")
	out, _ := cmd.Output()
	if v := strings.TrimSpace(string(out)); v != "" && !strings.ContainsAny(v, " \n") {
		return v
	}
	return "unknown"
}

// freeTURNPort returns a loopback port free for both UDP and TCP at the
// moment of the call.
func freeTURNPort() (int, error) {
	var lastErr error
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
		lastErr = err
	}
	return 0, fmt.Errorf("free port: %w", lastErr)
}

// stunMagicCookie is the fixed value in every STUN header (RFC 8489).
const stunMagicCookie = 0x2112A442

// stunPing sends one STUN Binding request to addr and waits up to wait for
// a success response with the same transaction ID.
func stunPing(addr string, wait time.Duration) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return fmt.Errorf("stun ping: %w", err)
	}
	defer c.Close()
	req := make([]byte, 20)
	binary.BigEndian.PutUint16(req[0:], 0x0001) // Binding request
	binary.BigEndian.PutUint32(req[4:], stunMagicCookie)
	if _, err := rand.Read(req[8:20]); err != nil {
		return fmt.Errorf("stun ping: %w", err)
	}
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("stun ping: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("stun ping %s: %w", addr, err)
		}
		if n >= 20 && binary.BigEndian.Uint16(buf[0:]) == 0x0101 && bytes.Equal(buf[8:20], req[8:20]) {
			return nil
		}
	}
}

// startSTUN starts a STUN/TURN server and polls 127.0.0.1:port with STUN
// Binding requests until one is answered; a server that does not answer
// is stopped.
func (e *benchEnv) startSTUN(ctx context.Context, name string, port int, bin string, args ...string) (*proc.Proc, error) {
	p, err := e.start(name, bin, args...)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	err = wait.For(ctx, bootstrapStart, func() error {
		if p.Exited() {
			return wait.Stop(p.Failure("exited at start"))
		}
		return stunPing(addr, 200*time.Millisecond)
	})
	if err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// startCoturn runs turnserver on 127.0.0.1:port with the TURN REST secret,
// relaying to loopback peers, with no TLS, CLI or database outside the
// scratch directory.
func (e *benchEnv) startCoturn(ctx context.Context, bin, name string, port int, secret string) (*proc.Proc, error) {
	dir := e.path(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("coturn: %w", err)
	}
	// The secret is a throwaway made for this run; turnserver has no way
	// to read it from a file when use-auth-secret takes it statically.
	args := []string{"-n", "--listening-ip=127.0.0.1", "--listening-port=" + strconv.Itoa(port),
		"--relay-ip=127.0.0.1", "--use-auth-secret", "--static-auth-secret=" + secret, "--realm=parley",
		"--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay",
		"--pidfile=" + dir + "/turnserver.pid", "--db=" + dir + "/turndb", "--log-file=stdout", "--simple-log"}
	return e.startSTUN(ctx, name, port, bin, args...)
}

// startParleyTURN runs parley-bootstrap with its built-in STUN/TURN on
// 127.0.0.1:port, the TURN REST secret in a file, relaying to loopback
// peers. libp2p listens on loopback TCP only.
func (e *benchEnv) startParleyTURN(ctx context.Context, bin, name string, port int, secret string) (*proc.Proc, error) {
	dir := e.path(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("parley-bootstrap: %w", err)
	}
	secretFile := e.path(name + ".secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		return nil, fmt.Errorf("parley-bootstrap: %w", err)
	}
	return e.startSTUN(ctx, name, port, bin, "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--metrics-addr", "",
		"--turn-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--turn-allow-private-peers",
		"--turn-secret-file", secretFile, "--log-level", "warn")
}

// startTurnServe runs this bench binary's turnserve subcommand:
// bootstrap/turnsrv alone, without the libp2p host around it.
func (e *benchEnv) startTurnServe(ctx context.Context, name string, port int, secret string) (*proc.Proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("turnserve: %w", err)
	}
	secretFile := e.path(name + ".secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		return nil, fmt.Errorf("turnserve: %w", err)
	}
	return e.startSTUN(ctx, name, port, self, "turnserve", "-secret-file", secretFile, "-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

// randomSecret is a fresh hex TURN REST secret for one run.
func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	return fmt.Sprintf("%x", b), nil
}
