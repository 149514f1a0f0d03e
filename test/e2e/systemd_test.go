package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
)

// installedBin is where the unit files expect the binaries.
const installedBin = "/usr/local/bin/"

// maxExposure is the highest `systemd-analyze security` exposure the units
// may have, in its tenths (20 = 2.0, "OK").
const maxExposure = "20"

// systemdAnalyze returns the path of systemd-analyze, or skips the test
// when it is missing or cannot verify units here (some containers).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd): the unit files were not verified")
	}
	probe := filepath.Join(t.TempDir(), "probe.service")
	if err := os.WriteFile(probe, []byte("[Service]\nExecStart=/bin/sh -c true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "verify", "--man=no", probe).CombinedOutput(); err != nil || len(out) > 0 {
		t.Skipf("systemd-analyze verify does not work here (%v): %s", err, out)
	}
	return bin
}

// TestSystemdUnits verifies docs/deploy/*.service with systemd-analyze
// verify (which must print nothing: unknown keys are only warnings), checks
// the hardening options are there, and that `systemd-analyze security`
// rates them at most maxExposure. ExecStart is pointed at the built
// binaries, since verify checks that the command exists.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	analyze := systemdAnalyze(t)
	bins := test.BuildBinaries(t)
	hardening := []string{
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK", "CapabilityBoundingSet=\n",
		"SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
		"StateDirectory=", "UMask=0077",
	}
	tests := []struct {
		unit, user, config string
	}{
		{"parleyd.service", "User=parley", "--config /etc/parley/parleyd.json run"},
		{"parley-bootstrap.service", "DynamicUser=yes", "--config /etc/parley-bootstrap/config.json --turn-secret-file %d/turn.secret"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			text := repoFile(t, "docs/deploy/"+tt.unit)
			for _, want := range append(hardening, tt.user) {
				if !strings.Contains(text, "\n"+want) {
					t.Errorf("%s lacks the line %q", tt.unit, want)
				}
			}
			if !strings.Contains(text, tt.config) {
				t.Errorf("%s: ExecStart lacks %q", tt.unit, tt.config)
			}
			if !strings.Contains(text, "ExecStart="+installedBin) {
				t.Fatalf("%s: ExecStart is not under %s", tt.unit, installedBin)
			}
			unit := filepath.Join(dir, tt.unit)
			local := strings.ReplaceAll(text, "ExecStart="+installedBin, "ExecStart="+filepath.Dir(bins.Parleyd)+"/")
			if err := os.WriteFile(unit, []byte(local), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", tt.unit, err, out)
			}
			out, err = exec.Command(analyze, "security", "--offline=true", "--threshold="+maxExposure, unit).CombinedOutput()
			overall := regexp.MustCompile(`Overall exposure level for \S+: [^\n]*`).Find(out)
			if err != nil {
				t.Errorf("systemd-analyze security %s: %v (want exposure at most %s/10)\n%s", tt.unit, err, maxExposure, out)
			}
			t.Logf("%s", overall)
		})
	}
}

// jsonKeys returns the top-level keys of a JSON object file, sorted.
func jsonKeys(t *testing.T, text string) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkKeysAreFlags fails for each config key whose flag --help does not show.
func checkKeysAreFlags(t *testing.T, keys []string, help string) {
	t.Helper()
	for _, k := range keys {
		if flag := "--" + strings.ReplaceAll(k, "_", "-"); !strings.Contains(help, flag+"=") && !strings.Contains(help, flag+" ") {
			t.Errorf("config key %q: no %s flag in --help", k, flag)
		}
	}
}

// TestSampleConfigs runs the binaries with docs/deploy's sample config
// files (flags override the paths and addresses for a test): every key must
// be a flag, parleyd must accept the file, and parley-bootstrap must start
// with it and show the file's settings.
func TestSampleConfigs(t *testing.T) {
	t.Parallel()
	bins := test.BuildBinaries(t)
	t.Run("parleyd.json", func(t *testing.T) {
		path, _ := filepath.Abs(filepath.Join("..", "..", "docs", "deploy", "parleyd.json"))
		help := test.Exec(t, nil, bins.Parleyd, "run", "--help")
		checkKeysAreFlags(t, jsonKeys(t, repoFile(t, "docs/deploy/parleyd.json")), help.Stdout)
		// parleyd refuses unknown keys itself; init reads the file too.
		data := filepath.Join(t.TempDir(), "node")
		if r := test.Exec(t, nil, bins.Parleyd, "--config", path, "--data", data, "init", "--name", "sample", "--json"); r.Code != 0 {
			t.Fatalf("parleyd --config %s init: exit %d: %s", path, r.Code, r.Stderr)
		}
	})
	t.Run("parley-bootstrap.json", func(t *testing.T) {
		path, _ := filepath.Abs(filepath.Join("..", "..", "docs", "deploy", "parley-bootstrap.json"))
		text := repoFile(t, "docs/deploy/parley-bootstrap.json")
		help := test.Exec(t, nil, bins.Bootstrap, "--help")
		checkKeysAreFlags(t, jsonKeys(t, text), help.Stdout)
		var cfg struct {
			Announce []string `json:"announce"`
		}
		if err := json.Unmarshal([]byte(text), &cfg); err != nil || len(cfg.Announce) == 0 {
			t.Fatalf("no announce addresses in the sample: %v", err)
		}
		b, err := daemon.StartBootstrap(t.Context(), daemon.BootstrapConfig{
			Bin: bins.Bootstrap, Procs: test.Procs(t), Name: "parley-bootstrap (sample config)",
			Dir: filepath.Join(t.TempDir(), "bootstrap"),
			Args: []string{"--config", path, "--listen", "/ip4/127.0.0.1/tcp/0", "--turn-listen", "127.0.0.1:0",
				"--turn-relay-ip", "127.0.0.1", "--metrics-addr", ""},
		})
		if err != nil {
			t.Fatal(err)
		}
		addrs := strings.Join(b.Addrs, "\n")
		// The announce addresses come from the file; the logs are JSON as
		// the file says.
		if !strings.HasPrefix(addrs, cfg.Announce[0]+"/p2p/") {
			t.Errorf("addrs.txt = %q, want the sample's announce address %s first", addrs, cfg.Announce[0])
		}
		if err := b.Stop(); err != nil {
			t.Fatalf("after SIGTERM: %v", err)
		}
		if out := b.Proc.Output(); !strings.Contains(out, "\n{\"time\":") {
			t.Errorf("no JSON log lines (the sample sets log_format json):\n%s", out)
		}
	})
}
