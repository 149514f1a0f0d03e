package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/proc"
)

// The quick start lives in one script; README.md shows it verbatim between
// these markers, split into ```sh blocks with prose in between.
const (
	quickstartScript = "docs/quickstart.sh"
	readmeBegin      = "<!-- begin docs/quickstart.sh -->"
	readmeEnd        = "<!-- end docs/quickstart.sh -->"
)

// repoFile reads a file by its path from the module root (tests run in
// test/e2e).
func repoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeQuickstart returns the ```sh blocks between the markers of
// README.md, concatenated.
func readmeQuickstart(readme string) (string, error) {
	_, rest, ok := strings.Cut(readme, readmeBegin)
	if !ok {
		return "", fmt.Errorf("README.md has no %q", readmeBegin)
	}
	section, _, ok := strings.Cut(rest, readmeEnd)
	if !ok {
		return "", fmt.Errorf("README.md has no %q", readmeEnd)
	}
	var b strings.Builder
	in := false
	for line := range strings.Lines(section) {
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in = true
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in:
			b.WriteString(line)
		}
	}
	if in {
		return "", errors.New("README.md: unterminated ```sh block in the quick start")
	}
	return b.String(), nil
}

// nonBlankLines splits text into lines, dropping empty ones: the README's
// blocks may start and end where the script has blank lines.
func nonBlankLines(text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		if line = strings.TrimRight(line, "\n"); strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return out
}

// TestREADMEShowsQuickstart: the README's quick start blocks, put together,
// are docs/quickstart.sh line for line (without its #! line and blank
// lines), so what the README tells a newcomer to type is what TestQuickstart
// runs.
func TestREADMEShowsQuickstart(t *testing.T) {
	t.Parallel()
	script := repoFile(t, quickstartScript)
	if first, rest, ok := strings.Cut(script, "\n"); ok && strings.HasPrefix(first, "#!") {
		script = rest
	}
	shown, err := readmeQuickstart(repoFile(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sl, rl := nonBlankLines(script), nonBlankLines(shown)
	if slices.Equal(sl, rl) {
		return
	}
	for i := range min(len(sl), len(rl)) {
		if sl[i] != rl[i] {
			t.Fatalf("README.md's quick start differs from %s at its non-blank line %d (after #!):\nscript: %q\nREADME: %q",
				quickstartScript, i+1, sl[i], rl[i])
		}
	}
	t.Fatalf("README.md's quick start has %d non-blank lines, %s has %d (after #!): one is cut short", len(rl), quickstartScript, len(sl))
}

// TestReadmeQuickstartExtraction checks the extraction itself, so that the
// test above cannot pass by extracting nothing from both.
func TestReadmeQuickstartExtraction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, readme, want string
		wantErr            bool
	}{
		{"blocks joined, prose and other languages dropped",
			"intro\n```sh\nnot this\n```\n" + readmeBegin + "\ntext\n```sh\na\nb\n```\nmore text\n```json\n{}\n```\n```sh\n\nc\n```\n" + readmeEnd + "\n```sh\nafter\n```\n",
			"a\nb\n\nc\n", false},
		{"no begin marker", "```sh\na\n```\n", "", true},
		{"no end marker", readmeBegin + "\n```sh\na\n```\n", "", true},
		{"unterminated block", readmeBegin + "\n```sh\na\n" + readmeEnd + "\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readmeQuickstart(tt.readme)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("got %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

var sasLine = regexp.MustCompile(`(?m)^ +SAS (\d{3} \d{3})  `)

// TestQuickstart runs docs/quickstart.sh with POSIX sh and the built
// binaries on PATH, on loopback with kernel-chosen ports: a bootstrap, two
// daemons, a contact request, a call (--wait), the tone heard, a hang-up,
// and a clean stop. Every process the script starts must be gone when it
// returns.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	bins := test.BuildBinaries(t)
	script, err := filepath.Abs(filepath.Join("..", "..", quickstartScript))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	qs := filepath.Join(dir, "qs")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	// The script and everything it starts share one process group, so a
	// timeout can stop all of it.
	start := time.Now()
	r, err := proc.Run(ctx, proc.Spec{Path: sh, Args: []string{script}, Dir: dir, Env: []string{
		"PATH=" + filepath.Dir(bins.Parley) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"QS_DIR=" + qs,
		"BS_IP=127.0.0.1", "BS_PORT=0", "TURN_PORT=0",
		"BS_FLAGS=--turn-allow-private-peers", "METRICS_PORT=0",
		"QS_TIMEOUT=60",
	}})
	if r.PID != 0 {
		t.Cleanup(func() { _ = syscall.Kill(-r.PID, syscall.SIGKILL) })
	}
	t.Logf("quickstart.sh ran for %v", time.Since(start).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("quickstart.sh output:\n%s%s", r.Stdout, r.Stderr)
			for _, log := range []string{"bootstrap.log", "alice.log", "bob.log"} {
				b, _ := os.ReadFile(filepath.Join(qs, log))
				t.Logf("--- %s:\n%s", log, b)
			}
		}
	}()
	if err != nil {
		t.Fatalf("quickstart.sh: %v", err)
	}

	text := r.Stdout + r.Stderr
	for _, want := range []string{"bootstrap address: /ip4/127.0.0.1/", "request-received", ": connected\n", "hearing a 700 Hz tone", "quickstart: done"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	sas := sasLine.FindAllStringSubmatch(text, -1)
	if len(sas) != 2 || sas[0][1] != sas[1][1] {
		t.Errorf("want the same SAS shown by Alice's call and Bob's calls, got %q", sas)
	}
	// Nothing the script started is left running.
	test.WaitFor(t, 10*time.Second, func() error {
		if err := syscall.Kill(-r.PID, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("processes of the quick start still running (kill -0: %v)", err)
		}
		return nil
	})
}

// TestQuickstartBootstrapFails: when the bootstrap cannot start (its
// metrics port is taken, as 9464 may be on a developer's machine), the
// quick start stops at once and prints the end of the bootstrap's log,
// which says why and which setting to change (issue 16 item 17).
func TestQuickstartBootstrapFails(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	bins := test.BuildBinaries(t)
	script, err := filepath.Abs(filepath.Join("..", "..", quickstartScript))
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	r, _ := proc.Run(ctx, proc.Spec{Path: sh, Args: []string{script}, Dir: dir, Env: []string{
		"PATH=" + filepath.Dir(bins.Parley) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"QS_DIR=" + filepath.Join(dir, "qs"),
		"BS_IP=127.0.0.1", "BS_PORT=0", "TURN_PORT=0", fmt.Sprintf("METRICS_PORT=%d", port),
		"QS_TIMEOUT=60",
	}})
	if r.PID != 0 {
		t.Cleanup(func() { _ = syscall.Kill(-r.PID, syscall.SIGKILL) })
	}
	took := time.Since(start)
	t.Logf("quickstart.sh: exit %d after %v:\n%s%s", r.Code, took.Round(time.Millisecond), r.Stdout, r.Stderr)
	if r.Code == 0 {
		t.Fatal("the quick start succeeded with its bootstrap port taken")
	}
	if !strings.Contains(r.Stderr, "parley-bootstrap did not start") || !strings.Contains(r.Stderr, "address already in use") || !strings.Contains(r.Stderr, "--metrics-addr") || !strings.Contains(r.Stderr, "METRICS_PORT") {
		t.Errorf("the quick start's error does not show the bootstrap's log: %q", r.Stderr)
	}
	if _, msg, ok := strings.Cut(r.Stderr, "parley-bootstrap:"); ok {
		if p := messageProblems(msg); len(p) > 0 {
			t.Errorf("the bootstrap's error: %s", strings.Join(p, ", "))
		}
	}
	if took > 30*time.Second {
		t.Errorf("the quick start took %v to notice the bootstrap had exited", took)
	}
}

// helpFlag matches a flag line of kong's help: "  -d, --data=DIR  ..." or
// "      --ice-loopback  ...".
var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z0-9-]*)`)

// TestReferenceCoversFlags: every flag the binaries' --help shows is in
// the README's configuration reference (parleyd and parley) or in
// docs/bootstrap.md's table (parley-bootstrap), so a new flag cannot go
// undocumented.
func TestReferenceCoversFlags(t *testing.T) {
	t.Parallel()
	bins := test.BuildBinaries(t)
	readme, _, _ := strings.Cut(repoFile(t, "README.md"), "## Troubleshooting")
	_, reference, ok := strings.Cut(readme, "## Configuration reference")
	if !ok {
		t.Fatal("README.md has no configuration reference")
	}
	tests := []struct {
		name, bin string
		args      []string
		doc       string
	}{
		{"parleyd run", bins.Parleyd, []string{"run", "--help"}, reference},
		{"parleyd init", bins.Parleyd, []string{"init", "--help"}, reference},
		{"parleyd export", bins.Parleyd, []string{"export", "--help"}, reference},
		{"parley", bins.Parley, []string{"--help"}, reference},
		{"parley-bootstrap", bins.Bootstrap, []string{"--help"}, repoFile(t, "docs/bootstrap.md")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := test.Exec(t, nil, tt.bin, tt.args...)
			flags := helpFlag.FindAllStringSubmatch(r.Stdout, -1)
			if r.Code != 0 || len(flags) < 3 {
				t.Fatalf("%v: exit %d, %d flags in:\n%s", tt.args, r.Code, len(flags), r.Stdout)
			}
			for _, f := range flags {
				if f[1] == "help" || f[1] == "version" {
					continue
				}
				if !strings.Contains(tt.doc, "--"+f[1]) {
					t.Errorf("--%s (%s) is not documented", f[1], tt.name)
				}
			}
		})
	}
}
