// Command parleyd is the Parley node daemon: one device of one account.
//
// It creates or restores the device's identity (init), exports the account
// as an encrypted archive (export), prints the identity (identity) and runs
// the node (run). See `parleyd --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// globals are the flags every parleyd command takes, and its I/O.
type globals struct {
	Config         cliutil.ConfigFile `short:"c" env:"PARLEY_CONFIG" placeholder:"FILE" config-commands:"run" help:"JSON config file with the daemon's settings: keys are the long flag names of run and of the global flags in snake_case (\"data\", \"bootstrap\", \"dht_mode\", ...). Flags on the command line override it; it overrides environment variables."`
	Data           string             `short:"d" env:"PARLEY_DATA" default:"${datadir}" type:"path" help:"Data directory holding the store and certificates (created with mode 0700).."`
	PassphraseFile string             `env:"PARLEY_PASSPHRASE_FILE" placeholder:"FILE" help:"File whose first line is the store passphrase sealing the private keys ('-' = stdin). Else $$PARLEY_PASSPHRASE, else asked on a terminal; none = keys kept unsealed in a 0600 file."`
	Version        kong.VersionFlag   `help:"Print the version and exit."`

	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// storePassphrase reads the passphrase that seals the store's keys.
func (g *globals) storePassphrase(prompt string, confirm bool) ([]byte, error) {
	return cliutil.Passphrase{File: g.PassphraseFile, EnvVar: "PARLEY_PASSPHRASE", Prompt: prompt, Confirm: confirm}.Read(g.ctx, g.stdin, g.stderr)
}

type cli struct {
	globals
	Init     initCmd     `cmd:"" help:"Create a new account and its first device, or restore an account from an archive onto this device (--restore)."`
	Identity identityCmd `cmd:"" help:"Print the account ID, device ID and certificate summary."`
	Export   exportCmd   `cmd:"" help:"Write the account (key, certificates, CRL, contacts, settings) to a passphrase-encrypted archive."`
	Run      runCmd      `cmd:"" help:"Run the node (libp2p host, DHT presence, local API on a unix socket in the data dir)."`
}

const description = `Parley node daemon: one device of a Parley account.
Peer-to-peer calls, end-to-end encrypted; no account server, no phone number.

Start with:  parleyd init --data DIR    then    parleyd run --data DIR

Every flag can also be set with the environment variable shown; the global
flags and those of run also in a JSON config file (--config FILE) whose keys
are the long flag names in snake_case. The command line wins over the file,
the file over the environment.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// parse parses args (and the config file and environment) into c. When
// kong handled the arguments itself (--help, --version, a usage error) it
// returns a nil context and the exit code.
func parse(c *cli, args []string, stdout, stderr io.Writer) (*kong.Context, int) {
	parser, err := cliutil.NewParser(c, "parleyd", description,
		kong.Vars{"datadir": cliutil.DefaultDataDir(), "socket": apitype.SocketName}, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "parleyd:", err)
		return nil, 2
	}
	return cliutil.Parse(parser, args, stderr)
}

// run parses args and runs the command; it returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cli
	c.ctx, c.stdin, c.stdout, c.stderr = ctx, stdin, stdout, stderr
	kctx, code := parse(&c, args, stdout, stderr)
	if kctx == nil {
		return code
	}
	if err := kctx.Run(&c.globals); err != nil {
		if errors.Is(err, context.Canceled) {
			if strings.HasPrefix(kctx.Command(), "run") {
				return 0 // cancellation is how the daemon is stopped
			}
			fmt.Fprintln(stderr, "parleyd: interrupted; nothing was stored")
			return 130
		}
		fmt.Fprintln(stderr, "parleyd:", err)
		return 1
	}
	return 0
}
