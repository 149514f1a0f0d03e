package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// demoBinary is the program `parley demo` runs. The demo embeds a node and a
// bootstrap server (libp2p, pion, bbolt), so it is a binary of its own and
// parley, a thin client, links none of it.
const demoBinary = "parley-demo"

// demoCmd is `parley demo`: it runs parley-demo with the same arguments,
// found next to the parley executable or else in $PATH.
type demoCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments for parley-demo (e.g. --keep, --verbose; parley demo --help lists them)."`
}

// demoStopGrace is how long parley-demo has to stop after an interrupt
// before it is killed.
const demoStopGrace = 10 * time.Second

func (c *demoCmd) Run(g *globals) error {
	self, _ := os.Executable() // "" is fine: then only $PATH is searched
	bin, err := findDemo(self, exec.LookPath)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(g.ctx, bin, c.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = g.stdin, g.stdout, g.stderr
	// On Ctrl-C the demo gets the interrupt too and cleans up; a SIGTERM
	// sent to parley alone is passed on the same way.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = demoStopGrace
	err = cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		if code := ee.ExitCode(); code > 0 {
			return exitCode(code) // parley-demo said why itself
		}
	}
	if err != nil {
		return fmt.Errorf("demo: %s: %w", bin, err)
	}
	return nil
}

// findDemo returns the parley-demo next to the executable self, else the one
// lookPath finds in $PATH.
func findDemo(self string, lookPath func(string) (string, error)) (string, error) {
	where := "in $PATH"
	if self != "" {
		// A name with a separator is checked as it is (exists, executable).
		if p, err := lookPath(filepath.Join(filepath.Dir(self), demoBinary)); err == nil {
			return p, nil
		}
		where = "next to " + self + " or in $PATH"
	}
	if p, err := lookPath(demoBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w %s: the demo is a program of its own.\n"+
		"Run it from a checkout of Parley with:\n"+
		"    go run ./cmd/%s\n"+
		"or build it next to parley (go build -o bin/ ./cmd/...) and run parley demo again", errNoDemo, where, demoBinary)
}

// errNoDemo means parley-demo was not found.
var errNoDemo = errors.New(demoBinary + " not found")

// exitCode is an error that only sets the exit code: the command already
// printed why it failed.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
