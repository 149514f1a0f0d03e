package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
)

var (
	buildOnce sync.Once
	built     daemon.Binaries
	buildErr  error
)

// BuildBinaries builds parleyd, parley and parley-bootstrap into a temporary
// directory (shared by the tests of one package run) and returns their paths.
func BuildBinaries(t testing.TB) daemon.Binaries {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin-")
		if err != nil {
			buildErr = err
			return
		}
		built, buildErr = daemon.Build(context.Background(), dir, daemon.BuildOptions{})
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// Exec runs a binary to completion (bounded by a minute) with extra
// environment variables, logs the command and what it printed, and
// returns the result; a non-zero exit is for the caller to judge. It fails
// the test only when the binary cannot run.
func Exec(t testing.TB, env []string, bin string, args ...string) proc.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	r, err := proc.Run(ctx, proc.Spec{Path: bin, Args: args, Env: env})
	if r.PID == 0 || ctx.Err() != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	t.Logf("$ %s %s -> %d\n%s%s", filepath.Base(bin), strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	return r
}
