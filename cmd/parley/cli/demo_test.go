package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeFakeDemo writes an executable parley-demo script into dir that prints
// its arguments and exits with code.
func writeFakeDemo(t *testing.T, dir, code string) string {
	t.Helper()
	p := filepath.Join(dir, demoBinary)
	script := "#!/bin/sh\necho \"fake demo: $*\"\nexit " + code + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDemoShim: `parley demo ARGS` runs parley-demo with ARGS (flags
// included, not parsed by parley) and exits with its code; without a
// parley-demo it says how to run the demo and exits non-zero.
func TestDemoShim(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake parley-demo")
	}
	tests := []struct {
		name     string
		fake     string // exit code of the fake parley-demo in $PATH; "" = none
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"runs it with the same arguments", "0", []string{"demo", "--keep", "--verbose"}, 0, "fake demo: --keep --verbose", ""},
		{"--help goes to parley-demo", "0", []string{"demo", "--help"}, 0, "fake demo: --help", ""},
		{"its exit code is parley's", "7", []string{"demo"}, 7, "fake demo:", ""},
		{"none: how to run it", "", []string{"demo", "--keep"}, 1, "", "go run ./cmd/parley-demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.fake != "" {
				writeFakeDemo(t, dir, tt.fake)
			}
			t.Setenv("PATH", dir)
			var out, errb bytes.Buffer
			code := Run(context.Background(), tt.args, nil, &out, &errb)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errb.String(), tt.wantErr) {
				t.Fatalf("parley %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					tt.args, code, out.String(), errb.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// TestFindDemo: the parley-demo next to parley wins over one in $PATH.
func TestFindDemo(t *testing.T) {
	binDir, pathDir := t.TempDir(), t.TempDir()
	self := filepath.Join(binDir, "parley")
	inPath := writeFakeDemo(t, pathDir, "0")
	t.Setenv("PATH", pathDir)
	if got, err := findDemo(self, exec.LookPath); err != nil || got != inPath {
		t.Fatalf("only in $PATH: %q, %v; want %q", got, err, inPath)
	}
	next := writeFakeDemo(t, binDir, "0")
	if got, err := findDemo(self, exec.LookPath); err != nil || got != next {
		t.Fatalf("next to parley and in $PATH: %q, %v; want %q", got, err, next)
	}
	_, err := findDemo(filepath.Join(t.TempDir(), "parley"), func(string) (string, error) { return "", os.ErrNotExist })
	if !errors.Is(err, errNoDemo) || !strings.Contains(err.Error(), "go run ./cmd/parley-demo") {
		t.Fatalf("nowhere: %v", err)
	}
}
