// Command parley-demo runs the whole Parley story in one process on
// loopback, for a newcomer: an embedded bootstrap server, Alice on two
// devices and Bob; a contact request, a call that rings both of Alice's
// devices, media checked both ways, the SAS, and what the bootstrap saw.
//
// It is a binary of its own because it embeds a node and a bootstrap server
// (libp2p, pion, bbolt); the parley CLI links none of them and runs this
// binary for `parley demo`. The story itself is package demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/cmd/parley-demo/demo"
)

// cli is parley-demo's command line.
type cli struct {
	Keep    bool             `help:"Keep the data directories and print how to poke at them with parleyd and parley."`
	Verbose bool             `help:"Show the nodes' logs."`
	Version kong.VersionFlag `help:"Print the version and exit."`
}

const description = `Run the whole Parley story in one process on loopback: a bootstrap server,
Alice on two devices and Bob; a contact request, a call that rings both of
Alice's devices, media checked both ways, the SAS both sides see, and what
the bootstrap server saw. Takes a few seconds; exits non-zero naming the
step that failed.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args and runs the demo; it returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cli
	parser, err := cliutil.NewParser(&c, "parley-demo", description, nil, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "parley-demo:", err)
		return 2
	}
	if kctx, code := cliutil.Parse(parser, args, stderr); kctx == nil {
		return code
	}
	if err := demo.Run(ctx, stdout, demo.Options{Keep: c.Keep, Verbose: c.Verbose}); err != nil {
		fmt.Fprintln(stderr, "parley-demo:", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	return 0
}
