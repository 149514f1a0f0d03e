package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/cmd/internal/cliutil"
)

// writeConfig writes a config file in a temporary directory.
func writeConfig(t *testing.T, json string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "parleyd.json")
	if err := os.WriteFile(file, []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestConfigFile parses a JSON config file, environment and flags into the
// run command's settings: the command line wins over the file, the file over
// the environment, the environment over the defaults.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := writeConfig(t, `{
  "data": "/var/lib/parleyd",
  "passphrase_file": "/etc/parleyd/passphrase",
  "bootstrap": ["/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWLFZt1hkJ3uvG8k4XRwyxkeoEmHAyasdNxDrXqNmKTtf8",
                "/ip4/192.0.2.2/tcp/4001/p2p/12D3KooWLFZt1hkJ3uvG8k4XRwyxkeoEmHAyasdNxDrXqNmKTtf8"],
  "listen": ["/ip4/0.0.0.0/tcp/4002"],
  "dht_mode": "client",
  "presence_ttl": "30m",
  "ice_relay_only": true,
  "log_format": "json"
}`)
	t.Setenv("PARLEY_DHT_MODE", "server")    // the file wins
	t.Setenv("PARLEY_RETRY_INTERVAL", "42s") // not in the file: the environment counts
	t.Setenv("PARLEY_LOG_LEVEL", "warn")     // not in the file either
	t.Setenv("PARLEY_DATA", "/from/the/environment")
	tests := []struct {
		name  string
		args  []string
		check func(c *cli) error
	}{
		{"file over environment", []string{"run", "--config", file}, func(c *cli) error {
			r := c.Run
			switch {
			case c.Data != "/var/lib/parleyd":
				return fmt.Errorf("Data = %q", c.Data)
			case c.PassphraseFile != "/etc/parleyd/passphrase":
				return fmt.Errorf("PassphraseFile = %q", c.PassphraseFile)
			case len(r.Bootstrap) != 2 || !strings.HasPrefix(r.Bootstrap[1], "/ip4/192.0.2.2/"):
				return fmt.Errorf("Bootstrap = %v", r.Bootstrap)
			case !slices.Equal(r.Listen, []string{"/ip4/0.0.0.0/tcp/4002"}):
				return fmt.Errorf("Listen = %v", r.Listen)
			case r.DHTMode != "client":
				return fmt.Errorf("DHTMode = %q, want the file's client", r.DHTMode)
			case r.PresenceTTL != 30*time.Minute:
				return fmt.Errorf("PresenceTTL = %v", r.PresenceTTL)
			case !r.ICERelayOnly || r.ICELoopback:
				return fmt.Errorf("ICERelayOnly %v, ICELoopback %v", r.ICERelayOnly, r.ICELoopback)
			case r.LogFormat != "json" || r.LogLevel != "warn":
				return fmt.Errorf("LogFormat %q, LogLevel %q", r.LogFormat, r.LogLevel)
			case r.RetryInterval != 42*time.Second:
				return fmt.Errorf("RetryInterval = %v, want the environment's 42s", r.RetryInterval)
			}
			return nil
		}},
		{"flags over file", []string{"run", "--config", file, "--data", dir, "--dht-mode", "auto", "--bootstrap", "/ip4/192.0.2.9/tcp/1/p2p/x"}, func(c *cli) error {
			if c.Data != dir || c.Run.DHTMode != "auto" || len(c.Run.Bootstrap) != 1 {
				return fmt.Errorf("Data %q, DHTMode %q, Bootstrap %v", c.Data, c.Run.DHTMode, c.Run.Bootstrap)
			}
			return nil
		}},
		{"config from the environment", []string{"run"}, func(c *cli) error {
			if c.Data != "/var/lib/parleyd" {
				return fmt.Errorf("Data = %q: $PARLEY_CONFIG was not read", c.Data)
			}
			return nil
		}},
		{"globals from the file apply to other commands", []string{"identity", "--config", file}, func(c *cli) error {
			if c.Data != "/var/lib/parleyd" {
				return fmt.Errorf("Data = %q", c.Data)
			}
			return nil
		}},
		{"no file: environment and defaults", []string{"run"}, func(c *cli) error {
			if c.Data != "/from/the/environment" || c.Run.DHTMode != "server" || c.Run.PresenceTTL != time.Hour {
				return fmt.Errorf("Data %q, DHTMode %q, PresenceTTL %v", c.Data, c.Run.DHTMode, c.Run.PresenceTTL)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "config from the environment" {
				t.Setenv("PARLEY_CONFIG", file)
			}
			var c cli
			var out bytes.Buffer
			if kctx, code := parse(&c, tt.args, &out, &out); kctx == nil {
				t.Fatalf("parse %v: exit %d: %s", tt.args, code, out.String())
			}
			if err := tt.check(&c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConfigFileErrors: a bad file stops parleyd before anything runs (the
// data directory is not even created), with exit code 2 and a message that
// names the file, the line and the problem.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"typo in a key", `{"dht-mode": "client"}`, `line 1: unknown key "dht-mode": did you mean "dht_mode"?`},
		{"flag of another command", `{"restore": "/tmp/a.parley"}`, `unknown key "restore"`},
		{"config in config", `{"config": "other.json"}`, `unknown key "config"`},
		{"not JSON", `data = "/var/lib/parleyd"`, "line 1: invalid JSON: invalid character"},
		{"not an object", `["data"]`, "must hold a JSON object"},
		{"bad enum value", `{"dht_mode": "sometimes"}`, `"dht_mode": "sometimes" is not one of auto, client, server`},
		{"bad duration", `{"presence_ttl": "forever"}`, `"presence_ttl": "forever" is not a duration`},
		{"number for a duration", "{\n  \"dht_mode\": \"client\",\n  \"retry_interval\": 15\n}", `line 3: "retry_interval": use a string such as "15s", not 15`},
		{"negative duration", `{"retry_interval": "-5s"}`, `"retry_interval": -5s is out of range (allowed: 100ms to 1h)`},
		{"presence TTL beyond what the DHT keeps", `{"presence_ttl": "72h"}`, `"presence_ttl": 72h is out of range (allowed: 1m to 48h)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeConfig(t, tt.json)
			data := filepath.Join(t.TempDir(), "data")
			var out bytes.Buffer
			code := run(context.Background(), []string{"run", "--config", file, "--data", data}, strings.NewReader(""), &out, &out)
			if code != 2 || !strings.Contains(out.String(), "config file "+file) || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("exit %d, output %q; want exit 2, the file's name and %q", code, out.String(), tt.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v): something ran", err)
			}
		})
	}
}

// TestFlagRanges: duration flags out of their range are refused from the
// command line and the environment too, before anything runs.
func TestFlagRanges(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  [2]string
		want string
	}{
		{"negative retry interval", []string{"run", "--retry-interval=-5s"}, [2]string{}, "--retry-interval ($PARLEY_RETRY_INTERVAL): -5s is out of range (allowed: 100ms to 1h)"},
		{"zero presence TTL", []string{"run", "--presence-ttl", "0s"}, [2]string{}, "--presence-ttl ($PARLEY_PRESENCE_TTL): 0s is out of range (allowed: 1m to 48h)"},
		{"from the environment", []string{"run"}, [2]string{"PARLEY_RETRY_INTERVAL", "15ns"}, "15ns is out of range"},
		{"link code TTL", []string{"init", "--link", "--link-ttl=-1m"}, [2]string{}, "--link-ttl: -1m is out of range (allowed: 1s to 1h)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env[0] != "" {
				t.Setenv(tt.env[0], tt.env[1])
			}
			data := filepath.Join(t.TempDir(), "data")
			var out bytes.Buffer
			code := run(context.Background(), append(tt.args, "--data", data), strings.NewReader(""), &out, &out)
			if code != 2 || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("exit %d, output %q; want exit 2 and %q", code, out.String(), tt.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v): something ran", err)
			}
		})
	}
}

// TestDeployConfig: the sample config in docs/deploy loads.
func TestDeployConfig(t *testing.T) {
	var c cli
	var out bytes.Buffer
	file := filepath.Join("..", "..", "docs", "deploy", "parleyd.json")
	if kctx, code := parse(&c, []string{"run", "--config", file}, &out, &out); kctx == nil {
		t.Fatalf("%s: exit %d: %s", file, code, out.String())
	}
	if c.Data != "/var/lib/parleyd" || len(c.Run.Bootstrap) != 3 {
		t.Fatalf("Data %q, Bootstrap %v", c.Data, c.Run.Bootstrap)
	}
}

// TestConfigKeysInHelp: --help documents --config, and every key the file
// accepts is a flag shown in run's help.
func TestConfigKeysInHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"run", "--help"}, nil, &out, &out); code != 0 {
		t.Fatalf("run --help: exit %d", code)
	}
	help := out.String()
	for _, f := range []string{"--config=FILE", "PARLEY_CONFIG", "snake_case"} {
		if !strings.Contains(help, f) {
			t.Errorf("run --help does not mention %s", f)
		}
	}
	var c cli
	parser, code := parse(&c, []string{"run"}, &out, &out)
	if parser == nil {
		t.Fatalf("parse: exit %d", code)
	}
	keys := cliutil.ConfigKeys(parser.Model)
	if len(keys) < 10 || !slices.Contains(keys, "dht_mode") || slices.Contains(keys, "restore") {
		t.Fatalf("config keys = %v", keys)
	}
	for _, k := range keys {
		if flag := "--" + strings.ReplaceAll(k, "_", "-"); !strings.Contains(help, flag) {
			t.Errorf("config key %s: %s not in run --help", k, flag)
		}
	}
}
