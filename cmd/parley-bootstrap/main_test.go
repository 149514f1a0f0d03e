package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ptest "github.com/parleyhq/parley/test"
)

// loopbackArgs are the flags that keep a server on loopback with kernel-chosen ports.
func loopbackArgs(dir string) []string {
	return []string{
		"--data-dir", dir,
		"--listen", "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1",
		"--turn-listen", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0",
		"--turn-allow-private-peers",
	}
}

// TestBinary builds and runs the real binary, waits for addrs.txt, checks
// /healthz and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "parley-bootstrap")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(loopbackArgs(dir), "--log-format", "json")...)
	cmd.Env = append(os.Environ(), secretEnv+"=a-secret-from-the-environment")
	var stdout, stderr ptest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	}()

	var addrs string
	ptest.WaitFor(t, 30*time.Second, func() error {
		select {
		case err := <-exited:
			t.Fatalf("exited early: %v", err)
		default:
		}
		b, err := os.ReadFile(filepath.Join(dir, addrsFile))
		addrs = string(b)
		return err
	})
	lines := strings.Fields(addrs)
	if len(lines) != 2 || !strings.Contains(lines[0], "/p2p/12D3KooW") {
		t.Fatalf("addrs.txt = %q", addrs)
	}
	if !strings.Contains(stdout.String(), "--bootstrap "+strings.Join(lines, ",")) {
		t.Errorf("stdout does not show the --bootstrap line for %v", lines)
	}
	metrics := metricsURL(t, stdout.String())
	resp, err := http.Get(strings.TrimSuffix(metrics, "/metrics") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", resp.Status)
	}
	if _, err := os.Stat(filepath.Join(dir, "turn.secret")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("turn.secret written although the secret came from the environment: %v", err)
	}
	if strings.Contains(stdout.String()+stderr.String(), "a-secret-from-the-environment") {
		t.Error("the TURN secret was printed")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("exit code %d", cmd.ProcessState.ExitCode())
	}
}

func metricsURL(t *testing.T, out string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "metrics: "); ok {
			return u
		}
	}
	t.Fatalf("no metrics line in %q", out)
	return ""
}

// TestConfigFile parses a JSON config file, environment and flags into a
// bootstrap.Config, with flags winning.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bootstrap.json")
	json := `{
  "data_dir": "/srv/parley-bootstrap",
  "listen": ["/ip4/0.0.0.0/tcp/4001"],
  "peer": ["/ip4/192.0.2.2/tcp/4001/p2p/12D3KooWLFZt1hkJ3uvG8k4XRwyxkeoEmHAyasdNxDrXqNmKTtf8"],
  "turn_relay_ip": "192.0.2.1",
  "turn_secret_file": "/etc/parley/turn.secret",
  "turn_credential_ttl": "15m",
  "metrics_addr": "",
  "relay_circuit_data": 2097152,
  "relay_max_reservations": 256,
  "log_level": "warn"
}`
	if err := os.WriteFile(file, []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PARLEY_BOOTSTRAP_TURN_LISTEN", "192.0.2.1:3479")
	t.Setenv("PARLEY_BOOTSTRAP_LOG_LEVEL", "debug") // the file wins
	tests := []struct {
		name  string
		args  []string
		check func(c *cli) error
	}{
		{"file", []string{"--config", file}, func(c *cli) error {
			cfg := c.config()
			switch {
			case cfg.DataDir != "/srv/parley-bootstrap":
				return fmt.Errorf("DataDir = %q", cfg.DataDir)
			case len(cfg.ListenAddrs) != 1 || cfg.ListenAddrs[0] != "/ip4/0.0.0.0/tcp/4001":
				return fmt.Errorf("ListenAddrs = %v", cfg.ListenAddrs)
			case len(cfg.Peers) != 1:
				return fmt.Errorf("Peers = %v", cfg.Peers)
			case cfg.TURN.RelayIP != "192.0.2.1" || cfg.TURN.SecretFile != "/etc/parley/turn.secret":
				return fmt.Errorf("TURN = %+v", cfg.TURN)
			case cfg.TURN.CredentialTTL != 15*time.Minute:
				return fmt.Errorf("CredentialTTL = %v", cfg.TURN.CredentialTTL)
			case cfg.MetricsAddr != "":
				return fmt.Errorf("MetricsAddr = %q", cfg.MetricsAddr)
			case cfg.Relay.CircuitData != 2<<20 || cfg.Relay.MaxReservations != 256 || cfg.Relay.MaxCircuits != 16:
				return fmt.Errorf("Relay = %+v", cfg.Relay)
			case cfg.TURN.ListenAddr != "192.0.2.1:3479":
				return fmt.Errorf("TURN listen from env = %q", cfg.TURN.ListenAddr)
			case c.LogLevel != "warn":
				return fmt.Errorf("LogLevel = %q, want the file's warn", c.LogLevel)
			}
			return nil
		}},
		{"flags override the file", []string{"--config", file, "--data-dir", dir, "--relay-max-reservations", "64"}, func(c *cli) error {
			cfg := c.config()
			if cfg.DataDir != dir || cfg.Relay.MaxReservations != 64 {
				return fmt.Errorf("DataDir %q, MaxReservations %d", cfg.DataDir, cfg.Relay.MaxReservations)
			}
			return nil
		}},
		{"defaults", nil, func(c *cli) error {
			cfg := c.config()
			if len(cfg.ListenAddrs) != 2 || cfg.MetricsAddr != "127.0.0.1:9464" || cfg.Relay.CircuitDuration != 2*time.Minute {
				return fmt.Errorf("defaults: %+v", cfg)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c cli
			var out bytes.Buffer
			if kctx, code := parse(&c, tt.args, &out, &out); kctx == nil {
				t.Fatalf("parse: exit %d: %s", code, out.String())
			}
			if err := tt.check(&c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSecretFromEnv(t *testing.T) {
	t.Setenv(secretEnv, "env-secret-0123456789")
	var c cli
	var out bytes.Buffer
	if kctx, _ := parse(&c, nil, &out, &out); kctx == nil {
		t.Fatal(out.String())
	}
	if got := string(c.config().TURN.Secret); got != "env-secret-0123456789" {
		t.Fatalf("secret = %q", got)
	}
	c.TURNSecretFile = "/some/file"
	if c.config().TURN.Secret != nil {
		t.Fatal("the secret file should win over the environment")
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, f := range []string{"--data-dir", "--listen", "--announce", "--peer", "--turn-listen", "--turn-relay-ip",
		"--turn-secret-file", "--metrics-addr", "--relay-circuit-data", "--log-format", "--config", "PARLEY_BOOTSTRAP_TURN_SECRET"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"--no-such-flag"}, &out, &out); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

// TestConfigFileErrors: a bad config file stops the server before it starts
// (no data directory, no key), with exit code 2 and a message naming the
// file, the line and the problem. Unknown keys were ignored before the
// shared loader.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"unknown key", `{"data_dir": "x", "turn_secret": "s3cret"}`, `line 1: unknown key "turn_secret"; allowed: announce, data_dir,`},
		{"typo in a key", "{\n  \"turn-relay-ip\": \"192.0.2.1\"\n}", `line 2: unknown key "turn-relay-ip": did you mean "turn_relay_ip"?`},
		{"camelCase key", `{"dataDir": "/srv"}`, `unknown key "dataDir": did you mean "data_dir"?`},
		{"number for a duration", `{"turn_credential_ttl": 600}`, `"turn_credential_ttl": use a string such as "10m", not 600`},
		{"negative duration", `{"relay_circuit_duration": "-2m"}`, `"relay_circuit_duration": -2m is out of range (allowed: 1s to 24h)`},
		{"zero limit", `{"relay_max_reservations": 0}`, `"relay_max_reservations": 0 is out of range (allowed: at least 1)`},
		{"string for a number", `{"relay_circuit_data": "1MiB"}`, `"relay_circuit_data": use a whole number, not "1MiB"`},
		{"malformed", "{\n  \"data_dir\": \"/srv\",\n}", `line 3: invalid JSON`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bootstrap.json")
			if err := os.WriteFile(file, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(t.TempDir(), "data")
			var out bytes.Buffer
			code := run(context.Background(), append(loopbackArgs(data), "--config", file), &out, &out)
			if code != 2 || !strings.Contains(out.String(), "config file "+file) || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("exit %d, output %q; want exit 2, the file's name and %q", code, out.String(), tt.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v): the server started", err)
			}
		})
	}
}

// TestFlagRanges: durations and limits out of range are refused on the
// command line and in the environment too.
func TestFlagRanges(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  [2]string
		want string
	}{
		{"negative credential TTL", []string{"--turn-credential-ttl=-10m"}, [2]string{}, "--turn-credential-ttl ($PARLEY_BOOTSTRAP_TURN_CREDENTIAL_TTL): -10m is out of range (allowed: 1m to 24h)"},
		{"zero reservation TTL", []string{"--relay-reservation-ttl", "0s"}, [2]string{}, "-relay-reservation-ttl ($PARLEY_BOOTSTRAP_RELAY_RESERVATION_TTL): 0s is out of range (allowed: 1m to 24h)"},
		{"too many UDP sockets", []string{"--turn-udp-sockets", "65"}, [2]string{}, "65 is out of range (allowed: 0 to 64)"},
		{"from the environment", nil, [2]string{"PARLEY_BOOTSTRAP_RELAY_CIRCUIT_DURATION", "1ns"}, "--relay-circuit-duration ($PARLEY_BOOTSTRAP_RELAY_CIRCUIT_DURATION): 1ns is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env[0] != "" {
				t.Setenv(tt.env[0], tt.env[1])
			}
			data := filepath.Join(t.TempDir(), "data")
			var out bytes.Buffer
			code := run(context.Background(), append(loopbackArgs(data), tt.args...), &out, &out)
			if code != 2 || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("exit %d, output %q; want exit 2 and %q", code, out.String(), tt.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v): the server started", err)
			}
		})
	}
}

// TestDeployConfig: the sample config in docs/deploy loads.
func TestDeployConfig(t *testing.T) {
	var c cli
	var out bytes.Buffer
	file := filepath.Join("..", "..", "docs", "deploy", "parley-bootstrap.json")
	if kctx, code := parse(&c, []string{"--config", file}, &out, &out); kctx == nil {
		t.Fatalf("%s: exit %d: %s", file, code, out.String())
	}
	if cfg := c.config(); cfg.DataDir != "/var/lib/parley-bootstrap" || cfg.TURN.CredentialTTL != 10*time.Minute || len(cfg.Peers) != 2 {
		t.Fatalf("config from %s: %+v", file, cfg)
	}
}
