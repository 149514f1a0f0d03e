package natlab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// maxOutput bounds what a Proc keeps of its output (the start and the end).
const maxOutput = 4 << 20

// Proc is a process the lab started inside a namespace. Its PID is the
// program's own (`ip netns exec` execs it), and the lab stops exactly the
// processes it started.
type Proc struct {
	// Name labels the process in logs and errors.
	Name string
	// NS is the namespace it runs in.
	NS string

	cmd  *exec.Cmd
	out  *limitedBuffer
	done chan struct{}
	err  error // set before done is closed
}

// startProc starts bin in namespace ns. The child dies with the lab's
// process (PR_SET_PDEATHSIG) and has its own process group, so a Ctrl-C
// on the terminal reaches only the lab, which then stops it in order.
func startProc(ns, name string, env []string, bin string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, NS: ns, out: &limitedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("natlab: start %s in %s: %w", name, ns, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Output is what the process printed so far (stdout and stderr).
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM, waits up to 5 s, then SIGKILL. It returns the exit
// error (nil for a clean exit); stopping twice is harmless.
func (p *Proc) Stop() error {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("natlab: %s did not stop within %v of SIGTERM: %w", p.Name, stopGrace, ErrTimeout)
		}
	}
	if p.err != nil {
		return fmt.Errorf("natlab: %s: %w", p.Name, p.err)
	}
	return nil
}

// String names the process and its state.
func (p *Proc) String() string {
	state := "running"
	if p.Exited() {
		state = fmt.Sprintf("exited: %v", p.err)
	}
	return fmt.Sprintf("%s (%s in %s, pid %d, %s)", p.Name, filepath.Base(p.cmd.Args[4]), p.NS, p.PID(), state)
}

// waitOutput polls the output until it contains s, the process exits, or
// the timeout passes.
func (p *Proc) waitOutput(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if strings.Contains(p.Output(), s) {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("natlab: %s exited before printing %q: %v\n%s", p.Name, s, p.err, p.Output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("natlab: %s did not print %q within %v: %w", p.Name, s, timeout, ErrTimeout)
		}
		select {
		case <-p.done:
		case <-time.After(delay): // polling the child's output
		}
	}
}

// limitedBuffer keeps the first and the last maxOutput/2 bytes written.
type limitedBuffer struct {
	mu      sync.Mutex
	head    bytes.Buffer
	tail    []byte
	dropped int64
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := maxOutput/2 - b.head.Len(); room > 0 {
		k := min(room, len(p))
		b.head.Write(p[:k])
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if over := len(b.tail) - maxOutput/2; over > 0 {
		b.dropped += int64(over)
		b.tail = append(b.tail[:0], b.tail[over:]...)
	}
	return n, nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped == 0 {
		return b.head.String() + string(b.tail)
	}
	return fmt.Sprintf("%s\n[… %d bytes dropped …]\n%s", b.head.String(), b.dropped, b.tail)
}
