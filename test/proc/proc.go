// Package proc runs the real programs of Parley's tests, NAT lab and
// bench: it starts a program (environment, arguments, working directory,
// and an optional command prefix such as `ip netns exec NS`), records its
// real PID, keeps its output (for a failure message, never printed
// otherwise), waits for a condition with a deadline, and stops it
// (SIGTERM, then SIGKILL) or kills it. A Group owns the processes of one
// test, lab or bench run and stops them all, newest first.
//
// It imports no testing package: package test adds t.Cleanup and
// printing on failure on top, and binaries (the bench, the NAT lab's
// command) use it directly. Package daemon drives parleyd and
// parley-bootstrap over it.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parleyhq/parley/test/wait"
)

// ErrClosed is returned by Start on a closed Group.
var ErrClosed = errors.New("proc: group closed")

// ErrStopTimeout is returned (wrapped) by Stop when the process had to be
// killed because it did not exit within the grace period after SIGTERM.
var ErrStopTimeout = errors.New("did not exit after SIGTERM")

// DefaultGrace is how long Stop waits after SIGTERM before SIGKILL when
// Group.Grace is zero.
const DefaultGrace = 10 * time.Second

// waitDelay bounds how long a finished process's output may be held open
// by a child that outlives it.
const waitDelay = 5 * time.Second

// Spec describes one program to run.
type Spec struct {
	// Name labels the process in logs and errors. Defaults to the base
	// name of Path.
	Name string
	// Path is the program; Args its arguments.
	Path string
	Args []string
	// Env is added to the group's environment (KEY=VALUE).
	Env []string
	// Dir is the working directory. Empty means this process's.
	Dir string
	// Wrap is a command prefix: what runs is Wrap, then Path and Args
	// (for example "ip", "netns", "exec", NS). The wrapper must exec the
	// program rather than fork it, as `ip netns exec` does, so that the
	// PID recorded is the program's own.
	Wrap []string
	// Stdin is the program's standard input. Nil means none.
	Stdin io.Reader
	// Lines, when set, is called with every line the program prints
	// (standard output and error), in order, one call at a time.
	Lines func(line string)
}

func (s Spec) name() string {
	if s.Name != "" {
		return s.Name
	}
	return filepath.Base(s.Path)
}

// commandLine is the program and its arguments, wrapper included.
func (s Spec) commandLine() []string {
	return append(append(slices.Clone(s.Wrap), s.Path), s.Args...)
}

// Group starts processes with shared settings and stops them all on
// Close. Its zero value is ready to use. The fields must not change once
// a process has started.
type Group struct {
	// Env is the environment every program starts with, before its own
	// Spec.Env. Nil means this process's environment.
	Env []string
	// Grace is how long Stop waits after SIGTERM before SIGKILL.
	// Defaults to DefaultGrace.
	Grace time.Duration
	// Logf, when set, is told of every process started.
	Logf func(format string, args ...any)

	mu     sync.Mutex // guards the following fields
	procs  []*Proc    // started, in start order
	closed bool
}

func (g *Group) command(ctx context.Context, s Spec) *exec.Cmd {
	line := s.commandLine()
	cmd := exec.CommandContext(ctx, line[0], line[1:]...)
	env := g.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(slices.Clone(env), s.Env...)
	cmd.Dir = s.Dir
	cmd.Stdin = s.Stdin
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = waitDelay
	return cmd
}

// Start runs a program in the background and records it in the group.
// The program gets a process group of its own (a Ctrl-C on the terminal
// reaches only the caller, which then stops it in order) and, on Linux,
// dies with the thread that started it (PR_SET_PDEATHSIG), so a killed
// test leaves nothing behind.
func (g *Group) Start(s Spec) (*Proc, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	p := &Proc{name: s.name(), spec: s, out: &output{lines: s.Lines}, done: make(chan struct{}), grace: g.Grace}
	if p.grace <= 0 {
		p.grace = DefaultGrace
	}
	p.cmd = g.command(context.Background(), s)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.out.flush()
		close(p.done)
	}()
	g.procs = append(g.procs, p)
	if g.Logf != nil {
		g.Logf("started %s", p)
	}
	return p, nil
}

// Procs lists the processes the group started, in start order.
func (g *Group) Procs() []*Proc {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.procs)
}

// Close stops every process of the group still running, newest first,
// and refuses to start more. It returns the errors of the processes that
// had to be killed (ErrStopTimeout), not their exit statuses. Closing
// twice is harmless.
func (g *Group) Close() error {
	g.mu.Lock()
	g.closed = true
	procs := g.procs
	g.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Stop(); errors.Is(err, ErrStopTimeout) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Result is what a program run to completion printed, and its exit code.
type Result struct {
	Stdout, Stderr string
	// Code is the exit code; -1 when the program did not start or was
	// killed by a signal.
	Code int
	// PID was the program's process ID (and its process group's).
	PID int
}

// Run runs a program to completion with the group's environment, without
// recording it. The error says why it did not run or ended non-zero
// (wrapping *exec.ExitError, with its standard error); the Result is
// filled in either way. When ctx ends, the program's whole process group
// is killed.
func (g *Group) Run(ctx context.Context, s Spec) (Result, error) {
	cmd := g.command(ctx, s)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Start()
	r := Result{Code: -1}
	if err == nil {
		r.PID = cmd.Process.Pid
		err = cmd.Wait()
		r.Code = cmd.ProcessState.ExitCode()
	}
	r.Stdout, r.Stderr = stdout.String(), stderr.String()
	if err != nil {
		msg := strings.TrimSpace(r.Stderr)
		if msg == "" {
			msg = strings.TrimSpace(r.Stdout)
		}
		return r, fmt.Errorf("%s: %w: %s", strings.Join(s.commandLine(), " "), err, msg)
	}
	return r, nil
}

// Run runs a program to completion with this process's environment (see
// Group.Run).
func Run(ctx context.Context, s Spec) (Result, error) {
	return new(Group).Run(ctx, s)
}

// Proc is a program started by a Group.
type Proc struct {
	name  string
	spec  Spec
	cmd   *exec.Cmd
	out   *output
	grace time.Duration
	done  chan struct{}
	err   error // Wait's result, set before done is closed
}

// Name labels the process.
func (p *Proc) Name() string { return p.name }

// PID is the program's process ID (also its process group's ID).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Output is what the process has printed so far (standard output and
// error; the start and the end when it printed more than 4 MiB).
func (p *Proc) Output() string { return p.out.String() }

// Tail returns the last n lines of the output.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended: nil for exit code 0 or while it runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// ExitCode is the exit code, or -1 while the process runs or when a
// signal ended it.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process's group (SIGSTOP pauses it: its
// sockets stay open and nothing answers).
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := syscall.Kill(-p.PID(), sig); err != nil {
		return fmt.Errorf("%s: signal %v: %w", p.name, sig, err)
	}
	return nil
}

// Stop sends SIGTERM (and SIGCONT, for a paused process) and waits for
// the exit, sending SIGKILL after the group's grace period. It returns nil
// for a clean exit, the exit error otherwise, and an error wrapping
// ErrStopTimeout when the process had to be killed. Stopping an ended
// process returns how it ended.
func (p *Proc) Stop() error {
	if !p.Exited() {
		_ = p.Signal(syscall.SIGTERM)
		_ = p.Signal(syscall.SIGCONT)
		t := time.NewTimer(p.grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			p.Kill()
			return fmt.Errorf("%s: %w within %v", p.name, ErrStopTimeout, p.grace)
		}
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}

// Kill sends SIGKILL (kill -9) to the process's group and waits for the
// process to end.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// WaitOutput waits until the output contains s. It fails at once when
// the process exits first.
func (p *Proc) WaitOutput(ctx context.Context, s string, timeout time.Duration) error {
	return wait.For(ctx, timeout, func() error {
		if strings.Contains(p.Output(), s) {
			return nil
		}
		if p.Exited() {
			return wait.Stop(p.Failure(fmt.Sprintf("exited before printing %q", s)))
		}
		return fmt.Errorf("%s has not printed %q", p.name, s)
	})
}

// Failure describes why the process is unusable, with the end of its
// output.
func (p *Proc) Failure(what string) error {
	return fmt.Errorf("%s: %s (%s); last output:\n%s", p.name, what, p.state(), p.Tail(20))
}

func (p *Proc) state() string {
	if p.Exited() {
		return fmt.Sprintf("exited: %v", p.err)
	}
	return "running"
}

// String names the process, its program, PID and state.
func (p *Proc) String() string {
	wrap := ""
	if len(p.spec.Wrap) > 0 {
		wrap = " under " + strings.Join(p.spec.Wrap, " ")
	}
	return fmt.Sprintf("%s (%s%s, pid %d, %s)", p.name, filepath.Base(p.spec.Path), wrap, p.PID(), p.state())
}
