// Package daemon drives the real Parley binaries over package proc: it
// builds them, runs parley-bootstrap until it has written its addresses,
// and runs parleyd (init, run, restart, stop, kill) while talking to its
// local API through node/localclient: wait until it has published, until
// a contact or a call is in a state. Actions that test the CLI go through
// the parley binary (CLI, CLIJSON).
//
// The end-to-end tests, the NAT lab and the bench share these drivers;
// they differ only in the flags, the command prefix (the lab runs each
// daemon inside a network namespace) and the group that owns the
// processes. The package imports no testing package.
package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/test/proc"
)

// DefaultTimeout bounds each wait of a driver whose Timeout is zero.
const DefaultTimeout = 30 * time.Second

// cliTimeout bounds one run of the parley CLI or of `parleyd init`.
const cliTimeout = time.Minute

// Binaries are the paths of the Parley programs.
type Binaries struct {
	Parleyd, Parley, Bootstrap string
}

// Commands are the packages Build builds by default.
var Commands = []string{"parleyd", "parley", "parley-bootstrap"}

// BinariesIn returns the paths the programs have in dir.
func BinariesIn(dir string) Binaries {
	return Binaries{
		Parleyd:   filepath.Join(dir, "parleyd"),
		Parley:    filepath.Join(dir, "parley"),
		Bootstrap: filepath.Join(dir, "parley-bootstrap"),
	}
}

// ModuleRoot is the directory of the Parley module (from this source
// file's location).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// BuildOptions change how Build compiles.
type BuildOptions struct {
	// Tags are build tags (-tags).
	Tags []string
	// Env is added to the go command's environment (CGO_ENABLED=0).
	Env []string
	// Commands are the packages under cmd/ to build. Defaults to
	// Commands.
	Commands []string
}

// Build compiles the Parley programs into dir and returns their paths.
func Build(ctx context.Context, dir string, o BuildOptions) (Binaries, error) {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if len(o.Tags) > 0 {
		args = append(args, "-tags", strings.Join(o.Tags, ","))
	}
	cmds := o.Commands
	if len(cmds) == 0 {
		cmds = Commands
	}
	for _, c := range cmds {
		args = append(args, "./cmd/"+c)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, err
	}
	g := &proc.Group{Env: append(os.Environ(), o.Env...)}
	if _, err := g.Run(ctx, proc.Spec{Path: goBin, Args: args, Dir: ModuleRoot()}); err != nil {
		return Binaries{}, err
	}
	return BinariesIn(dir), nil
}

// LoopbackListenArgs are flags for libp2p on loopback TCP and QUIC with
// kernel-chosen ports (parleyd run and parley-bootstrap).
var LoopbackListenArgs = []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1"}

// LoopbackRunArgs are `parleyd run` flags for a daemon on loopback
// (LoopbackListenArgs): DHT client, loopback ICE candidates, bootstrap
// retries every 300 ms.
var LoopbackRunArgs = slices.Concat(LoopbackListenArgs, []string{"--dht-mode", "client", "--ice-loopback", "--retry-interval", "300ms"})

// LoopbackBootstrapArgs are parley-bootstrap flags for libp2p on loopback
// (LoopbackListenArgs) and no metrics listener.
var LoopbackBootstrapArgs = slices.Concat(LoopbackListenArgs, []string{"--metrics-addr", ""})

// LoopbackTURNArgs are parley-bootstrap flags for STUN/TURN on loopback,
// relaying to loopback peers.
var LoopbackTURNArgs = []string{"--turn-listen", "127.0.0.1:0", "--turn-allow-private-peers"}

// args joins flag lists into a new slice.
func args(lists ...[]string) []string { return slices.Concat(lists...) }
