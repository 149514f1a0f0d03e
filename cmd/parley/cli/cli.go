// Package cli implements the parley commands, one file per command. Every
// command reaches the daemon only through package localclient; a test in
// cmd/parley keeps libp2p, pion, quic and bbolt out of the binary.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/localclient"
)

// globals are the flags every parley command takes, and its I/O.
type globals struct {
	Data    string           `short:"d" env:"PARLEY_DATA" default:"${datadir}" type:"path" complete:"dirs" help:"Data directory of the parleyd to talk to."`
	Socket  string           `env:"PARLEY_SOCKET" placeholder:"PATH" help:"The daemon's API socket (default: DATA/${socket})."`
	Version kong.VersionFlag `help:"Print the version and exit."`

	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// client returns the local API client for the configured daemon.
func (g *globals) client() *localclient.Client {
	sock := g.Socket
	if sock == "" {
		sock = filepath.Join(g.Data, apitype.SocketName)
	}
	return localclient.New(sock, g.Data)
}

// output prints v as JSON when asJSON, else calls human.
func (g *globals) output(asJSON bool, v any, human func(io.Writer)) error {
	if asJSON {
		return cliutil.PrintJSON(g.stdout, v)
	}
	human(g.stdout)
	return nil
}

type cli struct {
	globals
	Status     statusCmd     `cmd:"" help:"Show the daemon's identity, bootstrap connections, reachability and addresses."`
	Lookup     lookupCmd     `cmd:"" help:"Resolve an account ID to its devices through the DHT and connect to them."`
	Contacts   contactsCmd   `cmd:"" help:"List your contacts and pending requests."`
	Contact    contactCmd    `cmd:"" help:"Add, accept, decline, block or remove a contact."`
	Call       callCmd       `cmd:"" help:"Call a contact: all its online devices ring; media is end-to-end encrypted (SRTP with keys agreed over signed messages)."`
	Answer     answerCmd     `cmd:"" help:"Answer a ringing call."`
	Decline    callActionCmd `cmd:"" help:"Decline a ringing call."`
	Hangup     callActionCmd `cmd:"" help:"Hang up a call (or stop an outgoing one from ringing)."`
	Calls      callsCmd      `cmd:"" help:"List active and recent calls with live statistics (path, packets, loss, jitter, SAS)."`
	Conference conferenceCmd `cmd:"" help:"Group calls: start, invite, join, leave, list."`
	Link       linkCmd       `cmd:"" help:"Link a new device to your account: approve the code it shows (parleyd init --link)."`
	Devices    devicesCmd    `cmd:"" help:"List your account's devices, or revoke one."`
	Set        setCmd        `cmd:"" help:"Show or change settings (e.g. parley set calls.auto_answer contacts)."`
	Events     eventsCmd     `cmd:"" help:"Stream the daemon's events (calls, contact requests, bootstrap connections, …) until interrupted."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script: source <(parley completion bash), or zsh."`
	Demo       demoCmd       `cmd:"" passthrough:"" help:"Run the whole Parley story in one process on loopback (runs parley-demo; or: go run ./cmd/parley-demo)."`
}

const description = `Parley: peer-to-peer calls, end-to-end encrypted, no account server.
parley drives a running parleyd through its local API.`

// Run runs the parley command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c cli
	c.ctx, c.stdin, c.stdout, c.stderr = ctx, stdin, stdout, stderr
	parser, err := cliutil.NewParser(&c, "parley", description,
		kong.Vars{"datadir": cliutil.DefaultDataDir(), "socket": apitype.SocketName}, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "parley:", safe(err.Error()))
		return 2
	}
	if hint := misspelt(args); hint != "" {
		fmt.Fprintln(stderr, "parley:", hint)
		return 2
	}
	kctx, code := cliutil.Parse(parser, args, stderr)
	if kctx == nil {
		return code
	}
	if err := kctx.Run(&c.globals); err != nil {
		if errors.Is(err, context.Canceled) {
			return 130
		}
		if code := exitCode(0); errors.As(err, &code) {
			return int(code)
		}
		fmt.Fprintln(stderr, "parley:", safe(err.Error()))
		if errors.Is(err, localclient.ErrDaemonNotRunning) {
			return 3
		}
		return 1
	}
	return 0
}

// contactOps are the subcommands of parley contact.
var contactOps = map[string]bool{"add": true, "accept": true, "decline": true, "block": true, "remove": true, "rename": true}

// misspelt says what was meant when the command line is a near miss kong
// would only call an unexpected argument: "parley contacts add X" is
// "parley contact add X".
func misspelt(args []string) string {
	var words []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--data" || a == "-d" || a == "--socket" {
			i++ // the flag's value
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		words = append(words, a)
		if len(words) == 2 {
			break
		}
	}
	if len(words) == 2 && words[0] == "contacts" && contactOps[words[1]] {
		return fmt.Sprintf("parley contacts only lists your contacts; did you mean: parley contact %s …", words[1])
	}
	return ""
}
