// Command parley is the command-line client of parleyd: every command talks
// to the daemon through its local API (package localclient), except
// `parley demo`, which runs a whole network in one process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/parleyhq/parley/cmd/parley/cli"
	"github.com/parleyhq/parley/cmd/parley/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr,
		kong.DynamicCommand("demo", "Run the whole Parley story in one process on loopback: a bootstrap, Alice on two devices and Bob; contact request, a call that rings both of Alice's devices, media checked both ways, the SAS, and what the bootstrap saw.", "", &demo.Cmd{}))
	stop()
	os.Exit(code)
}
