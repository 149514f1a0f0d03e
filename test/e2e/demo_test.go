package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/test"
)

// TestDemoFirstCommand runs the README's first command as a newcomer types
// it in a checkout, go run ./cmd/parley-demo, and checks the story it tells.
func TestDemoFirstCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	readme := repoFile(t, "README.md")
	_, block, _ := strings.Cut(readme, "```sh\n")
	first, _, _ := strings.Cut(block, "\n")
	command, _, _ := strings.Cut(first, "#")
	command = strings.TrimSpace(command)
	args := strings.Fields(command)
	if want := []string{"go", "run", "./cmd/parley-demo"}; !slices.Equal(args, want) {
		t.Fatalf("README.md's first command is %q, want %q", first, strings.Join(want, " "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	t.Logf("$ %s\n%s", command, out)
	for _, want := range []string{
		"ringing on alice-laptop and on alice-phone",
		"Bob hears 660 Hz from Alice, Alice hears 440 Hz from Bob",
		"both screens show the same SAS",
		"Demo finished",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
}

// TestDemoShim: `parley demo` runs the parley-demo built next to it, with
// its arguments; without one it says how to run the demo and fails. Neither
// runs the demo itself (TestDemoFirstCommand does).
func TestDemoShim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/parley", "./cmd/parley-demo")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	parley := filepath.Join(bin, "parley")
	noPath := []string{"PATH=" + t.TempDir()} // only the directory of parley counts

	r := test.Exec(t, noPath, parley, "demo", "--help")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Usage: parley-demo") || !strings.Contains(r.Stdout, "--keep") {
		t.Errorf("parley demo --help: exit %d, stdout %q; want parley-demo's help", r.Code, r.Stdout)
	}
	r = test.Exec(t, noPath, parley, "demo", "--no-such-flag")
	if r.Code != 2 || !strings.Contains(r.Stderr, "parley-demo: unknown flag --no-such-flag") {
		t.Errorf("parley demo --no-such-flag: exit %d, stderr %q; want parley-demo's usage error and its exit code 2", r.Code, r.Stderr)
	}
	r = test.Exec(t, noPath, filepath.Join(bin, "parley-demo"), "--version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "parley-demo devel (commit ") {
		t.Errorf("parley-demo --version: exit %d, %q", r.Code, r.Stdout)
	}

	alone := filepath.Join(t.TempDir(), "parley")
	data, err := os.ReadFile(parley)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	r = test.Exec(t, noPath, alone, "demo", "--keep")
	if r.Code == 0 || !strings.Contains(r.Stderr, "go run ./cmd/parley-demo") || r.Stdout != "" {
		t.Errorf("parley demo without parley-demo: exit %d, stdout %q, stderr %q; want a failure saying go run ./cmd/parley-demo", r.Code, r.Stdout, r.Stderr)
	}
}
