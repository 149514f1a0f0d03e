package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Binaries are the paths of the real Parley binaries, built once per test
// process.
type Binaries struct {
	Parleyd, Parley, Bootstrap string
}

var (
	buildOnce sync.Once
	built     Binaries
	buildErr  error
)

// moduleRoot finds the directory holding go.mod, from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// BuildBinaries builds parleyd, parley and parley-bootstrap into a temporary
// directory (shared by the tests of one package run) and returns their paths.
func BuildBinaries(t testing.TB) Binaries {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/parleyd", "./cmd/parley", "./cmd/parley-bootstrap")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built = Binaries{
			Parleyd:   filepath.Join(dir, "parleyd"),
			Parley:    filepath.Join(dir, "parley"),
			Bootstrap: filepath.Join(dir, "parley-bootstrap"),
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// Result is what a finished command printed.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Exec runs a binary to completion (bounded by a minute) with extra
// environment variables and returns its output and exit code.
func Exec(t testing.TB, env []string, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", filepath.Base(bin), args, err)
	}
	t.Logf("$ %s %v -> %d\n%s%s", filepath.Base(bin), args, r.Code, r.Stdout, r.Stderr)
	return r
}
