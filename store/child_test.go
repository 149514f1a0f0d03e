package store_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Environment variables that turn a re-executed test binary into a helper
// child process (see TestLockHelper and TestCrashHelper).
const (
	envHelperDir   = "PARLEY_STORE_TEST_HELPER_DIR"
	envHelperRound = "PARLEY_STORE_TEST_HELPER_ROUND"
)

// child is a helper process running one Test*Helper function of this test
// binary. Its stdout arrives line by line on lines, which is closed at EOF.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
}

// startChild re-executes the test binary running only the helper test
// named helper, with the given extra environment.
func startChild(t *testing.T, helper string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	c := &child{cmd: cmd, lines: make(chan string, 1024), stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		// Normally the test has already waited for the child; this only
		// stops a child left behind by a failed test.
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// waitLine returns the next stdout line that starts with prefix, skipping
// others. ok is false if the child closed stdout or the deadline passed
// first.
func (c *child) waitLine(prefix string, deadline time.Time) (line string, ok bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case l, open := <-c.lines:
			if !open {
				return "", false
			}
			if strings.HasPrefix(l, prefix) {
				return l, true
			}
		case <-timer.C:
			return "", false
		}
	}
}
