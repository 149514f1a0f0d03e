package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/test/wait"
)

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not on PATH", name)
	}
	return p
}

// TestStartStop: a program started with env, args and a working
// directory prints what it got; Stop ends it with SIGTERM; the group
// refuses work once closed.
func TestStartStop(t *testing.T) {
	t.Parallel()
	sh := lookPath(t, "sh")
	dir := t.TempDir()
	g := &Group{Env: []string{"PATH=" + os.Getenv("PATH")}}
	var mu sync.Mutex
	var lines []string
	p, err := g.Start(Spec{Name: "printer", Path: sh, Args: []string{"-c", `echo "$GREETING $1"; pwd; exec sleep 600`, "sh", "world"},
		Env: []string{"GREETING=hello"}, Dir: dir, Lines: func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput(t.Context(), dir, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Output(), "hello world\n") {
		t.Errorf("output %q", p.Output())
	}
	if p.Exited() || p.ExitCode() != -1 || p.Err() != nil {
		t.Errorf("running: exited %v, code %d, err %v", p.Exited(), p.ExitCode(), p.Err())
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("still running after Close")
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Stop after SIGTERM = %v, want the signal", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 || lines[0] != "hello world" || lines[1] != dir {
		t.Errorf("lines %q", lines)
	}
	if _, err := g.Start(Spec{Path: sh}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

// TestStopKills: a program that ignores SIGTERM is killed after the grace
// period, and so is its child (the whole process group).
func TestStopKills(t *testing.T) {
	t.Parallel()
	sh := lookPath(t, "sh")
	g := &Group{Grace: 200 * time.Millisecond}
	p, err := g.Start(Spec{Path: sh, Args: []string{"-c", `trap "" TERM; sleep 600 & echo "child $!"; wait`}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitOutput(t.Context(), "child ", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.Fields(p.Output())[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); !errors.Is(err, ErrStopTimeout) {
		t.Errorf("Stop = %v, want ErrStopTimeout", err)
	}
	// Killed, the child is gone or a zombie until its new parent reaps it.
	err = wait.For(t.Context(), 10*time.Second, func() error {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat")
		if errors.Is(err, os.ErrNotExist) || bytes.Contains(stat, []byte(") Z ")) {
			return nil
		}
		return fmt.Errorf("the child %d survived: %s", child, stat)
	})
	if err != nil {
		t.Error(err)
	}
}

// TestWrapPID: with a wrapper that execs the program, the PID recorded is
// the program's own; Kill ends it.
func TestWrapPID(t *testing.T) {
	t.Parallel()
	env, sleep := lookPath(t, "env"), lookPath(t, "sleep")
	var g Group
	defer g.Close()
	p, err := g.Start(Spec{Path: sleep, Args: []string{"600"}, Wrap: []string{env, "PROC_TEST=1"}})
	if err != nil {
		t.Fatal(err)
	}
	// env execs sleep: soon /proc/PID/cmdline is sleep's.
	var cmdline []byte
	err = wait.For(t.Context(), 10*time.Second, func() error {
		cmdline, _ = os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/cmdline")
		// Read during the exec, cmdline can be empty: wait for sleep's.
		if bytes.Contains(cmdline, []byte("PROC_TEST")) || !bytes.Contains(cmdline, []byte("600")) {
			return fmt.Errorf("still the wrapper (cmdline %q)", cmdline)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(cmdline, []byte("600")) || bytes.Contains(cmdline, []byte("PROC_TEST")) {
		t.Errorf("pid %d runs %q, want sleep itself", p.PID(), cmdline)
	}
	if !strings.Contains(p.String(), "under "+env) {
		t.Errorf("String() = %q", p.String())
	}
	p.Kill()
	if !p.Exited() || p.ExitCode() != -1 {
		t.Errorf("after Kill: exited %v, code %d", p.Exited(), p.ExitCode())
	}
}

// TestRun: output and exit code, an error carrying standard error, and a
// cancelled context killing the program.
func TestRun(t *testing.T) {
	t.Parallel()
	sh := lookPath(t, "sh")
	r, err := Run(t.Context(), Spec{Path: sh, Args: []string{"-c", "cat; echo err >&2"}, Stdin: strings.NewReader("in\n")})
	if err != nil || r.Stdout != "in\n" || r.Stderr != "err\n" || r.Code != 0 || r.PID == 0 {
		t.Errorf("Run = %+v, %v", r, err)
	}
	r, err = Run(t.Context(), Spec{Path: sh, Args: []string{"-c", "echo bad input >&2; exit 3"}})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || r.Code != 3 || !strings.Contains(err.Error(), "bad input") {
		t.Errorf("failing Run = %+v, %v", r, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Run(ctx, Spec{Path: sh, Args: []string{"-c", "sleep 600; echo done"}}); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("Run past its context = %v after %v", err, time.Since(start))
	}
	if _, err := Run(t.Context(), Spec{Path: "/nonexistent/program"}); err == nil {
		t.Error("Run of a missing program succeeded")
	}
}

// TestWaitOutputExit: waiting for output a process will never print ends
// when it exits, with its output in the error.
func TestWaitOutputExit(t *testing.T) {
	t.Parallel()
	sh := lookPath(t, "sh")
	var g Group
	defer g.Close()
	p, err := g.Start(Spec{Name: "quitter", Path: sh, Args: []string{"-c", "echo giving up; exit 1"}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitOutput(t.Context(), "ready", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "giving up") || !strings.Contains(err.Error(), "quitter") {
		t.Errorf("WaitOutput = %v", err)
	}
	if p.ExitCode() != 1 {
		t.Errorf("exit code %d", p.ExitCode())
	}
}

func TestOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		writes  int
		dropped bool
	}{
		{"small", 10, false},
		{"over the limit", maxOutput/1000 + 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b output
			chunk := bytes.Repeat([]byte("x"), 999)
			for i := range tc.writes {
				if _, err := b.Write(append(chunk, byte('0'+i%10))); err != nil {
					t.Fatal(err)
				}
			}
			s := b.String()
			if got := strings.Contains(s, "bytes dropped"); got != tc.dropped {
				t.Fatalf("dropped marker %v, want %v", got, tc.dropped)
			}
			if len(s) > maxOutput+100 {
				t.Fatalf("kept %d bytes", len(s))
			}
			if !strings.HasSuffix(s, string(byte('0'+(tc.writes-1)%10))) {
				t.Fatal("lost the end of the output")
			}
		})
	}
}
