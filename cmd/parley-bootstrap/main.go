// Command parley-bootstrap runs a Parley bootstrap server: a DHT entry point
// and rendezvous store, a libp2p circuit relay, and STUN/TURN with
// short-lived credentials for Parley devices. Anyone can run one ("you are
// your server"); see docs/bootstrap.md.
//
// The binary only parses flags, environment and the config file, handles
// signals and calls package bootstrap.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/libp2p/go-libp2p/gologshim"

	"github.com/parleyhq/parley/bootstrap"
	"github.com/parleyhq/parley/bootstrap/turncred"
	"github.com/parleyhq/parley/bootstrap/turnsrv"
	"github.com/parleyhq/parley/cmd/internal/cliutil"
)

// secretEnv is the environment variable that may hold the TURN secret. It is
// deliberately not a flag, so the secret never shows in ps output.
const secretEnv = "PARLEY_BOOTSTRAP_TURN_SECRET"

// addrsFile is written in the data dir with the server's full multiaddrs.
const addrsFile = "addrs.txt"

type cli struct {
	Config  cliutil.ConfigFile `short:"c" env:"PARLEY_BOOTSTRAP_CONFIG" placeholder:"FILE" help:"JSON config file; keys are the long flag names in snake_case (\"data_dir\", \"turn_relay_ip\", ...). Flags on the command line override it; it overrides environment variables."`
	Version kong.VersionFlag   `help:"Print the version and exit."`

	DataDir  string   `short:"d" env:"PARLEY_BOOTSTRAP_DATA_DIR" default:"${datadir}" type:"path" help:"Data directory: the libp2p key (bootstrap.key, created on first run; it fixes the peer ID), the generated TURN secret (turn.secret) and addrs.txt."`
	Listen   []string `env:"PARLEY_BOOTSTRAP_LISTEN" sep:"," default:"/ip4/0.0.0.0/tcp/4001,/ip4/0.0.0.0/udp/4001/quic-v1" placeholder:"MULTIADDR" help:"libp2p listen multiaddr (repeatable or comma-separated)."`
	Announce []string `env:"PARLEY_BOOTSTRAP_ANNOUNCE" sep:"," placeholder:"MULTIADDR" help:"Public multiaddr to announce instead of the listen addresses (repeatable), e.g. /ip4/203.0.113.7/tcp/4001 behind a port forward."`
	Peer     []string `env:"PARLEY_BOOTSTRAP_PEERS" sep:"," placeholder:"MULTIADDR" help:"Another bootstrap server to peer with, ending in /p2p/PEER-ID (repeatable). This server's own address may be listed, so all servers can share one list."`

	TURNListen            string        `name:"turn-listen" env:"PARLEY_BOOTSTRAP_TURN_LISTEN" default:"${turnlisten}" help:"STUN/TURN listen address, UDP and TCP."`
	TURNRelayIP           string        `name:"turn-relay-ip" env:"PARLEY_BOOTSTRAP_TURN_RELAY_IP" placeholder:"IP" help:"Public IP of this server for TURN relayed candidates and URLs (default: the listen IP, else the first global IPv4 address of the machine). Set it behind 1:1 NAT."`
	TURNSecretFile        string        `name:"turn-secret-file" env:"PARLEY_BOOTSTRAP_TURN_SECRET_FILE" placeholder:"FILE" help:"File holding the TURN REST shared secret (same on all bootstraps and coturn; mode 0600). Else $$PARLEY_BOOTSTRAP_TURN_SECRET, else DATA/turn.secret, generated if missing."`
	TURNURL               []string      `name:"turn-url" env:"PARLEY_BOOTSTRAP_TURN_URLS" sep:"," placeholder:"URL" help:"STUN/TURN URL handed to nodes with credentials (repeatable), replacing the built-in server's, e.g. turn:turn.example.org:3478?transport=udp for coturn."`
	TURNCredentialTTL     time.Duration `name:"turn-credential-ttl" env:"PARLEY_BOOTSTRAP_TURN_CREDENTIAL_TTL" default:"10m" min:"1m" max:"24h" help:"Lifetime of issued TURN credentials."`
	TURNCredentialRate    int           `name:"turn-credential-rate" env:"PARLEY_BOOTSTRAP_TURN_CREDENTIAL_RATE" default:"10" min:"1" max:"1000" help:"TURN credential requests allowed per device per minute."`
	TURNAllowPrivatePeers bool          `name:"turn-allow-private-peers" env:"PARLEY_BOOTSTRAP_TURN_ALLOW_PRIVATE_PEERS" help:"Let TURN clients relay to loopback and private addresses (labs and tests only)."`
	TURNAllowCGNATPeers   bool          `name:"turn-allow-cgnat-peers" env:"PARLEY_BOOTSTRAP_TURN_ALLOW_CGNAT_PEERS" help:"Let TURN clients relay to shared address space 100.64.0.0/10 (carrier-grade NAT; on a tailnet or some clouds, the operator's own network)."`
	TURNAllowServerPeers  bool          `name:"turn-allow-server-peers" env:"PARLEY_BOOTSTRAP_TURN_ALLOW_SERVER_PEERS" help:"Let TURN clients relay to this server's own addresses (by default only its own relay ports there)."`
	TURNUserQuota         int           `name:"turn-user-quota" env:"PARLEY_BOOTSTRAP_TURN_USER_QUOTA" default:"${turnuserquota}" min:"1" help:"TURN allocations one device may hold at once (coturn's user-quota)."`
	TURNIPQuota           int           `name:"turn-ip-quota" env:"PARLEY_BOOTSTRAP_TURN_IP_QUOTA" default:"${turnipquota}" min:"1" help:"TURN allocations from one client address (IPv6: /64) at once."`
	TURNTotalQuota        int           `name:"turn-total-quota" env:"PARLEY_BOOTSTRAP_TURN_TOTAL_QUOTA" default:"${turntotalquota}" min:"1" help:"TURN allocations on this server at once (coturn's total-quota)."`
	TURNCredentialCheck   time.Duration `name:"turn-credential-check-ttl" env:"PARLEY_BOOTSTRAP_TURN_CREDENTIAL_CHECK_TTL" default:"${turncheckttl}" min:"10s" max:"1h" help:"How long a device's account record check (not revoked) is trusted before the record is fetched again."`
	TURNUDPSockets        int           `name:"turn-udp-sockets" env:"PARLEY_BOOTSTRAP_TURN_UDP_SOCKETS" default:"0" min:"0" max:"64" help:"UDP sockets sharing the TURN port, each relaying on its own goroutine (Linux; 0: one per four cores, at most 4)."`
	TURNPionDataPath      bool          `name:"turn-pion-data-path" env:"PARLEY_BOOTSTRAP_TURN_PION_DATA_PATH" help:"Relay every TURN datagram through pion/turn instead of the batched data path (Linux). Slower; an escape hatch and a baseline for comparisons."`
	TURNDisabled          bool          `name:"turn-disabled" env:"PARLEY_BOOTSTRAP_TURN_DISABLED" help:"Do not run the built-in STUN/TURN server (e.g. coturn runs here with the same secret); credentials are still issued."`

	MetricsAddr string `env:"PARLEY_BOOTSTRAP_METRICS_ADDR" default:"${metricsaddr}" help:"Address of the HTTP server for /metrics (Prometheus) and /healthz; empty disables it."`

	RelayMaxReservations          int           `name:"relay-max-reservations" env:"PARLEY_BOOTSTRAP_RELAY_MAX_RESERVATIONS" default:"${relaymaxres}" min:"1" help:"Circuit relay: devices holding a relay slot at once."`
	RelayMaxReservationsPerIP     int           `name:"relay-max-reservations-per-ip" env:"PARLEY_BOOTSTRAP_RELAY_MAX_RESERVATIONS_PER_IP" default:"${relaymaxresperip}" min:"1" help:"Circuit relay: reservations per IP address."`
	RelayMaxReservationsPerSubnet int           `name:"relay-max-reservations-per-subnet" env:"PARLEY_BOOTSTRAP_RELAY_MAX_RESERVATIONS_PER_SUBNET" default:"${relaymaxrespersubnet}" min:"1" help:"Circuit relay: reservations per IPv4 /24 or IPv6 /48."`
	RelayMaxReservationsPerASN    int           `name:"relay-max-reservations-per-asn" env:"PARLEY_BOOTSTRAP_RELAY_MAX_RESERVATIONS_PER_ASN" default:"${relaymaxresperasn}" min:"1" help:"Circuit relay: reservations per autonomous system."`
	RelayMaxCircuits              int           `name:"relay-max-circuits" env:"PARLEY_BOOTSTRAP_RELAY_MAX_CIRCUITS" default:"${relaymaxcircuits}" min:"1" help:"Circuit relay: relayed connections open at once per peer."`
	RelayReservationTTL           time.Duration `name:"relay-reservation-ttl" env:"PARLEY_BOOTSTRAP_RELAY_RESERVATION_TTL" default:"${relayresttl}" min:"1m" max:"24h" help:"Circuit relay: lifetime of a reservation before it must be refreshed."`
	RelayCircuitDuration          time.Duration `name:"relay-circuit-duration" env:"PARLEY_BOOTSTRAP_RELAY_CIRCUIT_DURATION" default:"${relaycircuitduration}" min:"1s" max:"24h" help:"Circuit relay: maximum duration of one relayed connection."`
	RelayCircuitData              int64         `name:"relay-circuit-data" env:"PARLEY_BOOTSTRAP_RELAY_CIRCUIT_DATA" default:"${relaycircuitdata}" min:"1" help:"Circuit relay: maximum bytes one relayed connection carries in each direction."`
	RelayBufferSize               int           `name:"relay-buffer-size" env:"PARLEY_BOOTSTRAP_RELAY_BUFFER_SIZE" default:"${relaybuffer}" min:"1" help:"Circuit relay: buffer size per relayed connection, in bytes."`

	DHTMaxRecords        int   `name:"dht-max-records" env:"PARLEY_BOOTSTRAP_DHT_MAX_RECORDS" default:"${dhtmaxrecords}" min:"1" help:"DHT record store: records kept in total."`
	DHTMaxBytes          int64 `name:"dht-max-bytes" env:"PARLEY_BOOTSTRAP_DHT_MAX_BYTES" default:"${dhtmaxbytes}" min:"1" help:"DHT record store: bytes of all records."`
	DHTMaxRecordsPerPeer int   `name:"dht-max-records-per-peer" env:"PARLEY_BOOTSTRAP_DHT_MAX_RECORDS_PER_PEER" default:"${dhtmaxrecordsperpeer}" min:"1" help:"DHT record store: records one peer may have stored."`
	DHTMaxBytesPerPeer   int64 `name:"dht-max-bytes-per-peer" env:"PARLEY_BOOTSTRAP_DHT_MAX_BYTES_PER_PEER" default:"${dhtmaxbytesperpeer}" min:"1" help:"DHT record store: bytes one peer may have stored."`
	DHTMaxRecordsPerIP   int   `name:"dht-max-records-per-ip" env:"PARLEY_BOOTSTRAP_DHT_MAX_RECORDS_PER_IP" default:"${dhtmaxrecordsperip}" min:"1" help:"DHT record store: records the peers of one IP address (IPv6: /64) may have stored."`
	DHTMaxBytesPerIP     int64 `name:"dht-max-bytes-per-ip" env:"PARLEY_BOOTSTRAP_DHT_MAX_BYTES_PER_IP" default:"${dhtmaxbytesperip}" min:"1" help:"DHT record store: bytes the peers of one IP address (IPv6: /64) may have stored."`

	LogLevel  string `env:"PARLEY_BOOTSTRAP_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat string `env:"PARLEY_BOOTSTRAP_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`

	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

const description = `Parley bootstrap server: DHT entry point and rendezvous store, libp2p circuit
relay, and STUN/TURN with short-lived credentials for Parley devices.

Open TCP and UDP 4001 (libp2p) and UDP and TCP 3478 (STUN/TURN) plus the
relay port range to the internet. At start the server prints its multiaddrs
(also written to DATA/addrs.txt): give them to nodes with parleyd --bootstrap.

Every flag can also be set with the environment variable shown, or in the
JSON config file (--config); the command line wins over the file, the file
over the environment. The TURN secret is never a flag: use
--turn-secret-file or $PARLEY_BOOTSTRAP_TURN_SECRET.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// vars are the defaults shown in --help, taken from the library.
func vars() kong.Vars {
	r := bootstrap.DefaultRelayLimits()
	d := bootstrap.DefaultDHTLimits()
	return kong.Vars{
		"turnuserquota":        fmt.Sprint(turnsrv.DefaultUserQuota),
		"turnipquota":          fmt.Sprint(turnsrv.DefaultIPQuota),
		"turntotalquota":       fmt.Sprint(turnsrv.DefaultTotalQuota),
		"turncheckttl":         turncred.DefaultCheckTTL.String(),
		"dhtmaxrecords":        fmt.Sprint(d.MaxRecords),
		"dhtmaxbytes":          fmt.Sprint(d.MaxBytes),
		"dhtmaxrecordsperpeer": fmt.Sprint(d.MaxRecordsPerPeer),
		"dhtmaxbytesperpeer":   fmt.Sprint(d.MaxBytesPerPeer),
		"dhtmaxrecordsperip":   fmt.Sprint(d.MaxRecordsPerIP),
		"dhtmaxbytesperip":     fmt.Sprint(d.MaxBytesPerIP),
		"datadir":              defaultDataDir(),
		"turnlisten":           bootstrap.DefaultTURNListenAddr,
		"metricsaddr":          bootstrap.DefaultMetricsAddr,
		"relaymaxres":          fmt.Sprint(r.MaxReservations),
		"relaymaxresperip":     fmt.Sprint(r.MaxReservationsPerIP),
		"relaymaxresperasn":    fmt.Sprint(r.MaxReservationsPerASN),
		"relaymaxrespersubnet": fmt.Sprint(r.MaxReservationsPerSubnet),
		"relaymaxcircuits":     fmt.Sprint(r.MaxCircuits),
		"relayresttl":          r.ReservationTTL.String(),
		"relaycircuitduration": r.CircuitDuration.String(),
		"relaycircuitdata":     fmt.Sprint(r.CircuitData),
		"relaybuffer":          fmt.Sprint(r.BufferSize),
	}
}

// defaultDataDir is $XDG_DATA_HOME/parley-bootstrap or
// ~/.local/share/parley-bootstrap.
func defaultDataDir() string {
	return filepath.Join(filepath.Dir(cliutil.DefaultDataDir()), "parley-bootstrap")
}

// parse parses args (and the config file and environment) into c.
func parse(c *cli, args []string, stdout, stderr io.Writer) (*kong.Context, int) {
	parser, err := cliutil.NewParser(c, "parley-bootstrap", description, vars(), stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "parley-bootstrap:", err)
		return nil, 2
	}
	return cliutil.Parse(parser, args, stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := cli{ctx: ctx, stdout: stdout, stderr: stderr}
	kctx, code := parse(&c, args, stdout, stderr)
	if kctx == nil {
		return code
	}
	if err := kctx.Run(); err != nil {
		fmt.Fprintln(stderr, "parley-bootstrap:", err)
		return 1
	}
	return 0
}

// Run runs the server until the context (SIGINT/SIGTERM) ends.
func (c *cli) Run() error {
	log, err := cliutil.LogFlags{LogLevel: c.LogLevel, LogFormat: c.LogFormat}.Logger(c.stderr)
	if err != nil {
		return err
	}
	libp2pLevel := slog.LevelWarn
	if c.LogLevel == "debug" {
		libp2pLevel = slog.LevelDebug
	}
	gologshim.SetDefaultHandler(cliutil.MinLevel(log.Handler(), libp2pLevel))

	cfg := c.config()
	cfg.Logger = log
	s, err := bootstrap.New(cfg)
	if err != nil {
		return err
	}
	if err := c.announce(s, cfg.DataDir); err != nil {
		s.Close()
		return err
	}
	return s.Run(c.ctx)
}

// config turns the flags into a bootstrap.Config.
func (c *cli) config() bootstrap.Config {
	cfg := bootstrap.Config{
		DataDir:       c.DataDir,
		ListenAddrs:   c.Listen,
		AnnounceAddrs: c.Announce,
		Peers:         c.Peer,
		MetricsAddr:   c.MetricsAddr,
		TURN: bootstrap.TURNConfig{
			ListenAddr:              c.TURNListen,
			RelayIP:                 c.TURNRelayIP,
			SecretFile:              c.TURNSecretFile,
			URLs:                    c.TURNURL,
			CredentialTTL:           c.TURNCredentialTTL,
			CredentialRatePerMinute: c.TURNCredentialRate,
			AllowPrivatePeers:       c.TURNAllowPrivatePeers,
			AllowCGNATPeers:         c.TURNAllowCGNATPeers,
			AllowServerPeers:        c.TURNAllowServerPeers,
			UserQuota:               c.TURNUserQuota,
			IPQuota:                 c.TURNIPQuota,
			TotalQuota:              c.TURNTotalQuota,
			CredentialCheckTTL:      c.TURNCredentialCheck,
			PionDataPath:            c.TURNPionDataPath,
			UDPSockets:              c.TURNUDPSockets,
			Disabled:                c.TURNDisabled,
		},
		Relay: bootstrap.RelayLimits{
			MaxReservations:          c.RelayMaxReservations,
			MaxReservationsPerIP:     c.RelayMaxReservationsPerIP,
			MaxReservationsPerASN:    c.RelayMaxReservationsPerASN,
			MaxReservationsPerSubnet: c.RelayMaxReservationsPerSubnet,
			MaxCircuits:              c.RelayMaxCircuits,
			ReservationTTL:           c.RelayReservationTTL,
			CircuitDuration:          c.RelayCircuitDuration,
			CircuitData:              c.RelayCircuitData,
			BufferSize:               c.RelayBufferSize,
		},
		DHT: bootstrap.DHTLimits{
			MaxRecords:        c.DHTMaxRecords,
			MaxBytes:          c.DHTMaxBytes,
			MaxRecordsPerPeer: c.DHTMaxRecordsPerPeer,
			MaxBytesPerPeer:   c.DHTMaxBytesPerPeer,
			MaxRecordsPerIP:   c.DHTMaxRecordsPerIP,
			MaxBytesPerIP:     c.DHTMaxBytesPerIP,
		},
	}
	if c.TURNSecretFile == "" {
		if v, ok := os.LookupEnv(secretEnv); ok && v != "" {
			cfg.TURN.Secret = []byte(v)
		}
	}
	return cfg
}

// announce prints the server's multiaddrs and writes them to DATA/addrs.txt.
func (c *cli) announce(s *bootstrap.Server, dataDir string) error {
	var addrs []string
	for _, a := range s.Addrs() {
		addrs = append(addrs, a.String())
	}
	fmt.Fprintf(c.stdout, "parley-bootstrap %s running as %s\n", cliutil.Version, s.Host().ID())
	if m := s.MetricsAddr(); m != nil {
		fmt.Fprintf(c.stdout, "metrics: http://%s/metrics\n", m)
	}
	fmt.Fprintf(c.stdout, "give nodes: --bootstrap %s\n", strings.Join(addrs, ","))
	path := filepath.Join(dataDir, addrsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(addrs, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", addrsFile, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", addrsFile, err), os.Remove(tmp))
	}
	return nil
}
