package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/gologshim"
	"golang.org/x/sync/errgroup"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

type runCmd struct {
	Bootstrap     []string      `short:"b" env:"PARLEY_BOOTSTRAP" sep:"," placeholder:"MULTIADDR" help:"A bootstrap server's address ending in /p2p/PEER-ID (repeatable; parley-bootstrap prints it at start)."`
	Listen        []string      `env:"PARLEY_LISTEN" sep:"," placeholder:"MULTIADDR" help:"libp2p listen address (repeatable). Default: TCP and QUIC on all IPv4 interfaces, ports picked by the kernel."`
	DHTMode       string        `env:"PARLEY_DHT_MODE" enum:"auto,client,server" default:"auto" help:"DHT role: auto (server when publicly reachable, else client), client or server."`
	RetryInterval time.Duration `env:"PARLEY_RETRY_INTERVAL" default:"15s" min:"100ms" max:"1h" help:"How often undelivered contact messages are retried."`
	PresenceTTL   time.Duration `env:"PARLEY_PRESENCE_TTL" default:"1h" min:"1m" max:"48h" help:"Lifetime of this device's presence record in the DHT; republished at a third of it and when addresses change (DHT nodes refuse records living longer than 48h)."`
	Socket        string        `env:"PARLEY_SOCKET" placeholder:"PATH" help:"Unix socket of the local API (default: DATA/${socket})."`
	Reachability  string        `env:"PARLEY_REACHABILITY" enum:"auto,private,public" default:"auto" help:"auto: AutoNAT finds out (its first probe is ~15 s after start; relay slots are reserved on the bootstraps from the start all the same, so the device is callable at once); private: this device is behind NAT; public: it has a public address (no relay slot is reserved)."`
	ICELoopback   bool          `env:"PARLEY_ICE_LOOPBACK" help:"Offer loopback ICE candidates (calls between daemons on one machine: tests, demos)."`
	ICERelayOnly  bool          `env:"PARLEY_ICE_RELAY_ONLY" help:"Use only TURN relay candidates for calls (hides this device's addresses from peers; costs latency)."`
	cliutil.LogFlags
}

func (c *runCmd) Run(g *globals) error {
	log, err := c.Logger(g.stderr)
	if err != nil {
		return err
	}
	// libp2p and the DHT log through slog too: same sink, warnings and up
	// unless we are debugging.
	libp2pLevel := slog.LevelWarn
	if c.LogLevel == "debug" {
		libp2pLevel = slog.LevelDebug
	}
	gologshim.SetDefaultHandler(cliutil.MinLevel(log.Handler(), libp2pLevel))
	pass, err := g.storePassphrase("Store passphrase", false)
	if err != nil {
		return err
	}
	n, err := node.New(node.Options{
		DataDir:       g.Data,
		Passphrase:    pass,
		Bootstraps:    c.Bootstrap,
		ListenAddrs:   c.Listen,
		DHTMode:       node.DHTMode(c.DHTMode),
		RetryInterval: c.RetryInterval,
		PresenceTTL:   c.PresenceTTL,
		ICELoopback:   c.ICELoopback,
		Reachability:  node.Reachability(c.Reachability),
		ICERelayOnly:  c.ICERelayOnly,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	sock := c.Socket
	if sock == "" {
		sock = filepath.Join(g.Data, apitype.SocketName)
	}
	api, err := localapi.NewHandler(n, log.With("component", "localapi"))
	if err != nil {
		n.Close()
		return err
	}
	ln, err := localapi.Listen(sock)
	if err != nil {
		n.Close()
		return err
	}
	id, err := n.Identity()
	if err != nil {
		n.Close()
		return err
	}
	log.Info("parleyd started", "account", id.AccountID, "device", id.DeviceID, "api", sock)
	fmt.Fprintf(g.stdout, "parleyd running as %s (device %s)\nlocal API: %s\n", id.AccountID, id.DeviceID, sock)

	eg, ctx := errgroup.WithContext(g.ctx)
	eg.Go(func() error { return n.Run(ctx) })
	eg.Go(func() error {
		return localapi.Serve(ctx, ln, api)
	})
	err = eg.Wait()
	log.Info("parleyd stopped")
	return err
}
