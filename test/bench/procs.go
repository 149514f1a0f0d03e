package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before it is
// killed.
const stopGrace = 10 * time.Second

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// moduleRoot is the directory holding go.mod, from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// benchEnv is the scratch space of one bench run: a temporary directory for
// binaries, data and logs, and the processes started in it. close stops the
// processes (SIGTERM) and removes the directory.
type benchEnv struct {
	tmp        string
	procs      []*proc
	bootstraps int // parley-bootstrap processes started, for their names
}

func newBenchEnv() (*benchEnv, error) {
	tmp, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench env: %w", err)
	}
	return &benchEnv{tmp: tmp}, nil
}

// close stops every process still running, newest first, then removes the
// scratch directory.
func (e *benchEnv) close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	_ = os.RemoveAll(e.tmp)
}

// path names a file or directory in the scratch space.
func (e *benchEnv) path(elem ...string) string {
	return filepath.Join(append([]string{e.tmp}, elem...)...)
}

// build builds the commands under ./cmd named by names into the scratch
// directory and returns their paths by name.
func (e *benchEnv) build(ctx context.Context, names ...string) (map[string]string, error) {
	args := []string{"build", "-o", e.tmp + string(filepath.Separator)}
	out := map[string]string{}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
		out[n] = e.path(n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleRoot()
	// Static, as README.md builds them: no C library mapped.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("CGO_ENABLED=0 go build %s: %w\n%s", strings.Join(names, " "), err, b)
	}
	return out, nil
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

// proc is a long-running process (a daemon or a server) started by the
// bench; its output goes to a log file in the scratch directory.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// start runs bin in the background in its own process group, so a Ctrl-C
// on the terminal reaches only the bench, which then stops it with SIGTERM.
func (e *benchEnv) start(name, bin string, args ...string) (*proc, error) {
	return e.startEnv(name, bin, nil, args...)
}

// startEnv is start with extra environment variables (KEY=VALUE).
func (e *benchEnv) startEnv(name, bin string, extraEnv []string, args ...string) (*proc, error) {
	logPath := e.path(name + ".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	e.procs = append(e.procs, p)
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the exit, killing the process after
// stopGrace. Stopping a stopped process does nothing.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused process handles SIGTERM only once resumed
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// pause stops the process with SIGSTOP: it keeps its sockets open and
// answers nothing, so its peers see a silent node, not a closed one.
func (p *proc) pause() error {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pause %s: %w", p.name, err)
	}
	return nil
}

// failure describes why the process is unusable, with the end of its log.
func (p *proc) failure(what string) error {
	state := "running"
	if p.exited() {
		state = fmt.Sprintf("exited: %v", p.err)
	}
	return fmt.Errorf("%s: %s (%s); last log lines:\n%s", p.name, what, state, tail(p.log, 15))
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// run runs a short-lived command (bounded by a minute) and returns its
// standard output; a non-zero exit is an error carrying its stderr.
func run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// stopPolling wraps an error after which poll gives up at once (a process
// died, a call ended).
type stopPolling struct{ error }

func (s stopPolling) Unwrap() error { return s.error }

// poll calls cond until it returns nil; it gives up with cond's last error
// when timeout passes, when cond returns a stopPolling, or when ctx ends.
func poll(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var stop stopPolling
		if errors.As(err, &stop) {
			return stop.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// sleepCtx waits for d (a measurement window or a polling interval) or
// until ctx ends.
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
