package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/parleyhq/parley/test"
)

// versionLine is cliutil.VersionString's form:
// "parleyd devel (commit unknown, go1.26.0)".
var versionLine = regexp.MustCompile(`^(parleyd|parley|parley-bootstrap) (\S+) \(commit ([0-9a-f]{7,12}|unknown), (go\S+|unknown)\)\n$`)

// TestVersion: --version on each binary prints its name, the version and a
// commit field, and exits 0 without starting anything. The test builds use
// no -ldflags, so the version is "devel"; the commit is the VCS revision
// when the toolchain recorded one (-buildvcs), else "unknown".
func TestVersion(t *testing.T) {
	t.Parallel()
	bins := test.BuildBinaries(t)
	tests := []struct {
		name, binary, path string
		args               []string
	}{
		{"parleyd", "parleyd", bins.Parleyd, []string{"--version"}},
		{"parley", "parley", bins.Parley, []string{"--version"}},
		{"parley-bootstrap", "parley-bootstrap", bins.Bootstrap, []string{"--version"}},
		// --version wins over a command and a config file that is not there.
		{"parleyd with a command", "parleyd", bins.Parleyd, []string{"run", "--version", "--config", "/nonexistent/parleyd.json"}},
		{"parley with a command", "parley", bins.Parley, []string{"status", "--version"}},
		{"parley-bootstrap with a config", "parley-bootstrap", bins.Bootstrap, []string{"--version", "--config", "/nonexistent/config.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := test.Exec(t, nil, tt.path, tt.args...)
			m := versionLine.FindStringSubmatch(r.Stdout)
			if r.Code != 0 || m == nil || m[1] != tt.binary {
				t.Fatalf("%s %v: exit %d, stdout %q; want %q", tt.binary, tt.args, r.Code, r.Stdout, versionLine)
			}
			if m[2] != "devel" {
				t.Errorf("version %q, want devel (built without -ldflags)", m[2])
			}
		})
	}
}

// TestVersionLdflags builds parley-bootstrap the way docs/operator.md tells
// packagers to, and checks that --version shows the version and commit
// given with -ldflags -X.
func TestVersionLdflags(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("links a binary")
	}
	bin := filepath.Join(t.TempDir(), "parley-bootstrap")
	const pkg = "github.com/parleyhq/parley/cmd/internal/cliutil"
	cmd := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X "+pkg+".Version=v1.2.3-test -X "+pkg+".Commit=0123abc",
		"./cmd/parley-bootstrap")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := test.Exec(t, nil, bin, "--version")
	m := versionLine.FindStringSubmatch(r.Stdout)
	if r.Code != 0 || m == nil || m[2] != "v1.2.3-test" || m[3] != "0123abc" {
		t.Fatalf("--version: exit %d, %q; want v1.2.3-test and commit 0123abc", r.Code, r.Stdout)
	}
}
