package cliutil

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// testCLI is a grammar with the kinds of flags the binaries have: global
// flags, a command whose flags the file may set and one whose flags it may
// not, durations with and without a range, an enum, a list, an integer.
type testCLI struct {
	Config  ConfigFile       `short:"c" env:"TEST_CONFIG" config-commands:"run"`
	Data    string           `env:"TEST_DATA" default:"/default"`
	Version kong.VersionFlag `help:"Print the version."`

	Run struct {
		Bootstrap []string      `sep:","`
		DHTMode   string        `enum:"auto,client,server" default:"auto"`
		Retry     time.Duration `name:"retry-interval" env:"TEST_RETRY" default:"15s" min:"100ms" max:"1h"`
		TTL       time.Duration `name:"presence-ttl" default:"1h"`
		Slots     int           `default:"8" min:"1" max:"64"`
		Loopback  bool
	} `cmd:""`
	Init struct {
		Bootstrap []string `sep:","`
		Restore   string
	} `cmd:""`
}

// writeFile writes content to name in a new temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseTest parses args with the test grammar; it returns the grammar, the
// exit code (0: parsed) and what was printed.
func parseTest(t *testing.T, args ...string) (*testCLI, int, string) {
	t.Helper()
	var c testCLI
	var out bytes.Buffer
	p, err := NewParser(&c, "test", "", nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	kctx, code := Parse(p, args, &out)
	if kctx != nil && code != 0 {
		t.Fatalf("Parse returned a context and exit %d", code)
	}
	return &c, code, out.String()
}

// TestLoadConfig: a good file is read whole; every bad one is refused with
// the file's name, the line of the key when there is one, and what to do.
func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr error  // nil: the file is good
		want    string // in the message
		line    int    // the error's line; 0: not about one place
	}{
		{name: "good", json: `{
  "data": "/var/lib/test",
  "bootstrap": ["/ip4/192.0.2.1/tcp/4001/p2p/x", "/ip4/192.0.2.2/tcp/4001/p2p/y"],
  "dht_mode": "client",
  "retry_interval": "90s",
  "presence_ttl": "30m",
  "slots": 16,
  "loopback": true
}`},
		{name: "empty object", json: `{}`},
		{name: "unknown key", json: "{\n  \"data\": \"/x\",\n  \"no_such_flag\": 1\n}", wantErr: ErrUnknownKey, want: `unknown key "no_such_flag"; allowed: bootstrap, data, dht_mode, loopback, presence_ttl, retry_interval, slots`, line: 3},
		{name: "dashes in a key", json: `{"dht-mode": "client"}`, wantErr: ErrUnknownKey, want: `unknown key "dht-mode": did you mean "dht_mode"?`, line: 1},
		{name: "camelCase key", json: `{"retryInterval": "1s"}`, wantErr: ErrUnknownKey, want: `did you mean "retry_interval"?`, line: 1},
		{name: "flag of a command the file is not for", json: `{"restore": "/tmp/a"}`, wantErr: ErrUnknownKey, want: `unknown key "restore"`, line: 1},
		{name: "the config flag itself", json: `{"config": "other.json"}`, wantErr: ErrUnknownKey, want: `unknown key "config"`, line: 1},
		{name: "version", json: `{"version": true}`, wantErr: ErrUnknownKey, want: `unknown key "version"`, line: 1},
		{name: "number for a duration", json: "{\n\n  \"retry_interval\": 15\n}", wantErr: ErrConfigValue, want: `"retry_interval": use a string such as "15s", not 15`, line: 3},
		{name: "fraction for a duration", json: `{"presence_ttl": 0.5}`, wantErr: ErrConfigValue, want: `use a string such as "500ms", not 0.5`, line: 1},
		{name: "not a duration", json: `{"presence_ttl": "forever"}`, wantErr: ErrConfigValue, want: `"presence_ttl": "forever" is not a duration`, line: 1},
		{name: "duration without a unit", json: `{"retry_interval": "15"}`, wantErr: ErrConfigValue, want: `"15" is not a duration`, line: 1},
		{name: "negative duration", json: `{"retry_interval": "-5s"}`, wantErr: ErrOutOfRange, want: `"retry_interval": -5s is out of range (allowed: 100ms to 1h)`, line: 1},
		{name: "zero duration", json: `{"retry_interval": "0s"}`, wantErr: ErrOutOfRange, want: `"retry_interval": 0s is out of range (allowed: 100ms to 1h)`, line: 1},
		{name: "duration too long", json: `{"retry_interval": "2h"}`, wantErr: ErrOutOfRange, want: `2h is out of range (allowed: 100ms to 1h)`, line: 1},
		{name: "integer out of range", json: `{"slots": 0}`, wantErr: ErrOutOfRange, want: `"slots": 0 is out of range (allowed: 1 to 64)`, line: 1},
		{name: "string for an integer", json: `{"slots": "8"}`, wantErr: ErrConfigValue, want: `"slots": use a whole number, not "8"`, line: 1},
		{name: "fraction for an integer", json: `{"slots": 1.5}`, wantErr: ErrConfigValue, want: `"slots": use a whole number, not 1.5`, line: 1},
		{name: "string for a boolean", json: `{"loopback": "yes"}`, wantErr: ErrConfigValue, want: `"loopback": use true or false, not "yes"`, line: 1},
		{name: "string for a list", json: `{"bootstrap": "/b1"}`, wantErr: ErrConfigValue, want: `"bootstrap": use a list such as ["a", "b"], not "/b1"`, line: 1},
		{name: "number in a list", json: `{"bootstrap": ["/b1", 1]}`, wantErr: ErrConfigValue, want: `"bootstrap": use a list of strings, not ["/b1", 1]`, line: 1},
		{name: "number for a string", json: `{"data": 5}`, wantErr: ErrConfigValue, want: `"data": use a string, not 5`, line: 1},
		{name: "not an enum value", json: `{"dht_mode": "sometimes"}`, wantErr: ErrConfigValue, want: `"sometimes" is not one of auto, client, server`, line: 1},
		{name: "null", json: `{"data": null}`, wantErr: ErrConfigValue, want: `"data": null is not a value`, line: 1},
		{name: "key twice", json: "{\"data\": \"/a\",\n \"data\": \"/b\"}", wantErr: ErrConfigSyntax, want: `"data" is given twice (first at line 1)`, line: 2},
		{name: "malformed JSON", json: "{\n  \"data\": \"/x\"\n  \"dht_mode\": \"client\"\n}", wantErr: ErrConfigSyntax, want: "invalid character", line: 3},
		{name: "trailing comma", json: "{\"data\": \"/x\",\n}", wantErr: ErrConfigSyntax, want: "invalid character '}'", line: 2},
		{name: "not JSON at all", json: `data = "/x"`, wantErr: ErrConfigSyntax, want: "invalid character", line: 1},
		{name: "an array", json: `["data"]`, wantErr: ErrConfigSyntax, want: "must hold a JSON object ({...}), not an array", line: 1},
		{name: "empty file", json: ``, wantErr: ErrConfigSyntax, want: "the file is empty"},
		{name: "cut short", json: `{"data": "/x"`, wantErr: ErrConfigSyntax, want: "the file ends inside the object", line: 1},
		{name: "data after the object", json: "{}\n{}", wantErr: ErrConfigSyntax, want: "data after the JSON object", line: 2},
	}
	var c testCLI
	p, err := NewParser(&c, "test", "", nil, os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "test.json", tt.json)
			_, err := LoadConfig(file, p.Model)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("good file refused: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want a *ConfigError wrapping %v", err, tt.wantErr)
			}
			msg := err.Error()
			if ce.File != file || !strings.HasPrefix(msg, "config file "+file) {
				t.Errorf("error does not name the file first: %q", msg)
			}
			if ce.Line != tt.line {
				t.Errorf("line %d, want %d (%q)", ce.Line, tt.line, msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q lacks %q", msg, tt.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.json"), p.Model); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

// TestConfigPrecedence: the file's values reach the flags; the command line
// wins over the file, the file over the environment, the environment over
// the defaults; a global from the file applies to every command and a
// same-named flag of another command takes the file's value too.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "test.json", `{"data": "/from/file", "retry_interval": "90s", "bootstrap": ["/b1", "/b2"], "slots": 3}`)
	t.Setenv("TEST_DATA", "/from/env")
	t.Setenv("TEST_RETRY", "2s")

	c, code, out := parseTest(t, "run", "--config", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if c.Data != "/from/file" || c.Run.Retry != 90*time.Second || !slices.Equal(c.Run.Bootstrap, []string{"/b1", "/b2"}) || c.Run.Slots != 3 || c.Run.TTL != time.Hour {
		t.Errorf("file: %+v", c)
	}
	c, code, out = parseTest(t, "run", "--config", file, "--retry-interval", "5s", "--data", "/from/flag")
	if code != 0 || c.Run.Retry != 5*time.Second || c.Data != "/from/flag" {
		t.Errorf("flags over file: exit %d, %+v %s", code, c, out)
	}
	c, code, out = parseTest(t, "run")
	if code != 0 || c.Run.Retry != 2*time.Second || c.Data != "/from/env" {
		t.Errorf("no file: exit %d, %+v %s", code, c, out)
	}
	t.Setenv("TEST_CONFIG", file)
	c, code, out = parseTest(t, "init")
	if code != 0 || c.Data != "/from/file" || !slices.Equal(c.Init.Bootstrap, []string{"/b1", "/b2"}) {
		t.Errorf("file from the environment, init: exit %d, %+v %s", code, c, out)
	}
}

// TestFlagRanges: min/max tags hold for the command line and the
// environment as for the file, and the range is in the help.
func TestFlagRanges(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  string // TEST_RETRY
		want string // "" = accepted
	}{
		{"in range", []string{"run", "--retry-interval", "300ms", "--slots", "64"}, "", ""},
		{"negative duration flag", []string{"run", "--retry-interval=-5s"}, "", "test: --retry-interval ($TEST_RETRY): -5s is out of range (allowed: 100ms to 1h)"},
		{"zero duration flag", []string{"run", "--retry-interval", "0"}, "", "0s is out of range (allowed: 100ms to 1h)"},
		{"integer flag", []string{"run", "--slots", "65"}, "", "test: --slots: 65 is out of range (allowed: 1 to 64)"},
		{"from the environment", []string{"run"}, "1ns", "--retry-interval ($TEST_RETRY): 1ns is out of range"},
		{"another command's flag is not checked", []string{"init"}, "-1s", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("TEST_RETRY", tt.env)
			}
			_, code, out := parseTest(t, tt.args...)
			if tt.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, out)
				}
				return
			}
			if code != 2 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, %q; want exit 2 and %q", code, out, tt.want)
			}
		})
	}
	_, code, out := parseTest(t, "run", "--help")
	if code != 0 || !strings.Contains(out, "100ms to 1h") || !strings.Contains(out, "1 to 64") {
		t.Errorf("run --help does not show the ranges (exit %d):\n%s", code, out)
	}
}

// TestBadRangeTags: a range tag that does not parse, or on a flag of
// another type, is the programmer's mistake and fails NewParser.
func TestBadRangeTags(t *testing.T) {
	for name, grammar := range map[string]any{
		"not a duration": &struct {
			D time.Duration `min:"soon"`
		}{},
		"min above max": &struct {
			N int `min:"5" max:"1"`
		}{},
		"on a string flag": &struct {
			S string `max:"3"`
		}{},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewParser(grammar, "test", "", nil, os.Stdout, os.Stderr); err == nil {
				t.Fatal("NewParser accepted it")
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 48 * time.Hour: "48h", 90 * time.Second: "1m30s", 10 * time.Minute: "10m",
		100 * time.Millisecond: "100ms", 0: "0s", -5 * time.Second: "-5s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
