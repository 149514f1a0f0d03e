package natlab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/wait"
)

// BuildTag is the build tag of the lab's Parley binaries. It adds one thing
// to them: with $PARLEY_LAB_SRTP_KEYLOG set, each call's SRTP keys are
// appended to that file, so the capture test knows what must not appear on
// the wire (see node/calltransport/labkeylog_lab.go).
const BuildTag = "parleylab"

// KeyLogEnv is the environment variable lab binaries read (see BuildTag).
const KeyLogEnv = "PARLEY_LAB_SRTP_KEYLOG"

// Timeouts of the Parley steps.
const (
	bootstrapTimeout = 20 * time.Second
	reachTimeout     = 90 * time.Second
)

// BinDirEnv names a directory of prebuilt lab binaries (built with
// -tags parleylab) that Build uses instead of compiling.
const BinDirEnv = "PARLEY_NATLAB_BIN"

// Build compiles parleyd, parley and parley-bootstrap with the lab's build
// tag into dir, or, when $PARLEY_NATLAB_BIN is set, uses the binaries there.
func Build(ctx context.Context, dir string) (daemon.Binaries, error) {
	if pre := os.Getenv(BinDirEnv); pre != "" {
		return daemon.BinariesIn(pre), nil
	}
	b, err := daemon.Build(ctx, dir, daemon.BuildOptions{Tags: []string{BuildTag}})
	if err != nil {
		return b, fmt.Errorf("natlab: %w", err)
	}
	return b, nil
}

// netnsExec is the command prefix that runs a program inside namespace
// ns; `ip netns exec` execs the program, so its PID is the program's.
func netnsExec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// StartBootstrap runs parley-bootstrap in the server namespace with its
// data in dir and waits for its addresses: libp2p on TCP and QUIC port
// 4001 and on TCP 443 (the only port a tcp443 site reaches; TURN over
// libp2p streams rides it), STUN/TURN on 3478 (UDP and TCP) with relayed addresses on
// BootstrapAddr. Extra flags are appended to the command line.
func (l *Lab) StartBootstrap(ctx context.Context, bins daemon.Binaries, dir string, extra ...string) (*daemon.Bootstrap, error) {
	return l.startBootstrapIn(ctx, l.server, BootstrapAddr.String(), bins, dir, extra...)
}

// StartBootstrap2 runs a second parley-bootstrap like StartBootstrap, on
// the second server host at Bootstrap2Addr (Options.SecondServer).
func (l *Lab) StartBootstrap2(ctx context.Context, bins daemon.Binaries, dir string, extra ...string) (*daemon.Bootstrap, error) {
	if l.srv2 == "" {
		return nil, fmt.Errorf("%w: the lab has no second server host", ErrBadOptions)
	}
	return l.startBootstrapIn(ctx, l.srv2, Bootstrap2Addr.String(), bins, dir, extra...)
}

func (l *Lab) startBootstrapIn(ctx context.Context, ns, ip string, bins daemon.Binaries, dir string, extra ...string) (*daemon.Bootstrap, error) {
	if l.isDown() {
		return nil, ErrDown
	}
	b, err := daemon.StartBootstrap(ctx, daemon.BootstrapConfig{
		Bin: bins.Bootstrap, Procs: l.procs, Dir: dir, Wrap: netnsExec(ns), Timeout: bootstrapTimeout,
		Args: slices.Concat([]string{
			"--listen", "/ip4/" + ip + "/tcp/4001", "--listen", "/ip4/" + ip + "/udp/4001/quic-v1",
			"--listen", "/ip4/" + ip + "/tcp/443",
			"--turn-listen", ip + ":3478", "--turn-relay-ip", ip, "--metrics-addr", ""}, extra),
	})
	if err != nil {
		return nil, fmt.Errorf("natlab: %w", err)
	}
	return b, nil
}

// Daemon is a parleyd in a site's host namespace, driven with the parley
// CLI and its local API from the lab's own namespace (the API is a unix
// socket in Dir, a file, reachable from any network namespace).
type Daemon struct {
	*daemon.Parleyd
	// Site is where the daemon runs.
	Site *Site
	// KeyLog is the file the daemon's SRTP keys are logged to.
	KeyLog string
}

// NewDaemon makes an identity with `parleyd init` in dir for a daemon that
// will run at site with the given log level.
func (l *Lab) NewDaemon(ctx context.Context, bins daemon.Binaries, site *Site, name, dir, logLevel string) (*Daemon, error) {
	keyLog := filepath.Join(dir, "srtp-keys.log")
	run := []string{"--listen", "/ip4/0.0.0.0/tcp/0", "--listen", "/ip4/0.0.0.0/udp/0/quic-v1",
		"--dht-mode", "client", "--retry-interval", "500ms", "--log-level", logLevel}
	// No --reachability: every daemon runs with the default (auto), as a
	// user's would. It reserves a relay slot on each bootstrap as soon as
	// it connects, whatever AutoNAT later says, so the report's "reachable
	// through the relay after" measures what users get.
	p, err := daemon.Init(ctx, daemon.Config{
		Bins: bins, Procs: l.procs, Name: name, Dir: dir, RunArgs: run,
		Wrap: netnsExec(site.Host), Env: []string{KeyLogEnv + "=" + keyLog},
	})
	if err != nil {
		return nil, fmt.Errorf("natlab: %w", err)
	}
	return &Daemon{Parleyd: p, Site: site, KeyLog: keyLog}, nil
}

// waitRelayAddr polls until the daemon lists a circuit relay address (it
// holds a reservation on the bootstrap, so NATed peers can reach it).
func (d *Daemon) waitRelayAddr(ctx context.Context) error {
	return d.waitRelayAddrs(ctx, 1)
}

// waitRelayAddrs polls until the daemon lists circuit relay addresses
// through n different relays (it holds a reservation on n bootstraps).
func (d *Daemon) waitRelayAddrs(ctx context.Context, n int) error {
	return wait.For(ctx, reachTimeout, func() error {
		s, err := d.Status(ctx)
		if err != nil {
			return err
		}
		relays := make(map[string]bool)
		for _, a := range s.Addrs {
			if before, _, ok := strings.Cut(a, "/p2p-circuit"); ok {
				relays[before[strings.LastIndex(before, "/p2p/")+1:]] = true
			}
		}
		if len(relays) < n {
			return fmt.Errorf("%s has relay addresses through %d bootstraps, want %d (reachability %s)", d.Name, len(relays), n, s.Reachability)
		}
		return nil
	})
}

// metricsAddr is where a lab bootstrap started with
// "--metrics-addr", metricsAddr serves its metrics: loopback of the server
// namespace, reachable only from there (Lab.bootstrapMetric).
const metricsAddr = "127.0.0.1:9464"

// bootstrapMetric reads one sample of the bootstrap's metrics (a line
// "NAME VALUE" of the Prometheus text format, NAME with its labels) from
// inside the server namespace. The bootstrap must have been started with
// "--metrics-addr", metricsAddr.
func (l *Lab) bootstrapMetric(ctx context.Context, name string) (float64, error) {
	var body []byte
	err := l.Do(l.server, func() error {
		// Dial and I/O on this thread: the socket is made in the server
		// namespace (an http.Client would dial on another goroutine).
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp4", metricsAddr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nHost: bootstrap\r\n\r\n"); err != nil {
			return err
		}
		body, err = io.ReadAll(io.LimitReader(c, 4<<20))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("natlab: bootstrap metrics: %w", err)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("natlab: bootstrap metrics have no %s", name)
}
