package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// benchEnv is the scratch space of one bench run: a temporary directory for
// binaries and data, and the group of processes started in it. close stops
// the processes (SIGTERM) and removes the directory.
type benchEnv struct {
	tmp        string
	procs      *proc.Group
	bootstraps int // parley-bootstrap processes started, for their names
	victims    int // parleyd processes the hostile part started, for their names
}

func newBenchEnv() (*benchEnv, error) {
	tmp, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench env: %w", err)
	}
	// Each process starts in its own process group, so a Ctrl-C on the
	// terminal reaches only the bench, which then stops it with SIGTERM.
	return &benchEnv{tmp: tmp, procs: &proc.Group{Env: cleanEnv()}}, nil
}

// close stops every process still running, newest first, then removes the
// scratch directory.
func (e *benchEnv) close() {
	_ = e.procs.Close()
	_ = os.RemoveAll(e.tmp)
}

// path names a file or directory in the scratch space.
func (e *benchEnv) path(elem ...string) string {
	return filepath.Join(append([]string{e.tmp}, elem...)...)
}

// build builds the commands under ./cmd named by names into the scratch
// directory, static as README.md builds them (no C library mapped).
func (e *benchEnv) build(ctx context.Context, names ...string) (daemon.Binaries, error) {
	return daemon.Build(ctx, e.tmp, daemon.BuildOptions{Env: []string{"CGO_ENABLED=0"}, Commands: names})
}

// start runs a long-lived program (a server, a load generator) in the
// background; its output is kept for error messages.
func (e *benchEnv) start(name, bin string, args ...string) (*proc.Proc, error) {
	return e.procs.Start(proc.Spec{Name: name, Path: bin, Args: args})
}

// cleanEnv is this process's environment without PARLEY_* variables, so
// that a developer's settings (data dir, passphrase, bootstraps) cannot leak
// into the processes the bench starts.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			out = append(out, kv)
		}
	}
	return out
}

// sleepCtx waits out a measurement window, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// memKiB reads a process's resident set size and its anonymous part
// (RssAnon: heap and stacks, as opposed to the file-backed pages of the
// binary) from /proc/PID/status.
func memKiB(pid int) (rss, anon int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("memory: %w", err)
	}
	return parseStatusMem(b)
}

// parseStatusMem reads VmRSS and RssAnon (KiB) from the contents of
// /proc/PID/status.
func parseStatusMem(b []byte) (rss, anon int, err error) {
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		for key, dst := range map[string]*int{"VmRSS:": &rss, "RssAnon:": &anon} {
			v, ok := strings.CutPrefix(line, key)
			if !ok {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, 0, fmt.Errorf("%w: %s empty", ErrStatFormat, key)
			}
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return 0, 0, fmt.Errorf("%w: %s %q: %w", ErrStatFormat, key, v, err)
			}
			*dst = n
			found++
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("%w: VmRSS or RssAnon missing", ErrStatFormat)
	}
	return rss, anon, nil
}

// rssKiB reads a process's resident set size from /proc/PID/status.
func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, err := strconv.Atoi(f[0])
				if err != nil {
					return 0, fmt.Errorf("rss: VmRSS %q: %w", v, err)
				}
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("rss: no VmRSS in /proc/%d/status", pid)
}

// cpuTime reads the CPU time (user + system) a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	ticks, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseStatCPU returns utime + stime, in clock ticks, from the contents of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted after the last ')':
// state is field 3, utime field 14 and stime field 15.
func parseStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no command name", ErrStatFormat)
	}
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%w: %d fields after the command name", ErrStatFormat, len(f))
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: utime: %w", ErrStatFormat, err)
	}
	s, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stime: %w", ErrStatFormat, err)
	}
	return u + s, nil
}
