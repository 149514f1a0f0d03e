package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// BootstrapConfig describes a parley-bootstrap to run.
type BootstrapConfig struct {
	// Bin is the parley-bootstrap binary.
	Bin string
	// Procs owns the process. Required.
	Procs *proc.Group
	// Name labels the process. Defaults to "parley-bootstrap".
	Name string
	// Dir is the data directory. It should be fresh: an old addrs.txt
	// would name dead ports.
	Dir string
	// Args are the flags besides --data-dir and --peer. Nil means
	// LoopbackBootstrapArgs.
	Args []string
	// Peers are other bootstraps' multiaddrs (--peer).
	Peers []string
	// Wrap is a command prefix (see proc.Spec); Env is added to the
	// process's environment.
	Wrap, Env []string
	// Timeout bounds the wait for addrs.txt. Defaults to DefaultTimeout.
	Timeout time.Duration
}

// Bootstrap is a running parley-bootstrap.
type Bootstrap struct {
	Proc *proc.Proc
	Dir  string
	// Addrs are its multiaddrs, from the addrs.txt it writes.
	Addrs []string
}

// StartBootstrap runs parley-bootstrap and waits until it has written its
// addresses.
func StartBootstrap(ctx context.Context, c BootstrapConfig) (*Bootstrap, error) {
	if c.Name == "" {
		c.Name = "parley-bootstrap"
	}
	if c.Args == nil {
		c.Args = LoopbackBootstrapArgs
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	a := args([]string{"--data-dir", c.Dir}, c.Args)
	for _, p := range c.Peers {
		a = append(a, "--peer", p)
	}
	p, err := c.Procs.Start(proc.Spec{Name: c.Name, Path: c.Bin, Args: a, Wrap: c.Wrap, Env: c.Env})
	if err != nil {
		return nil, err
	}
	b := &Bootstrap{Proc: p, Dir: c.Dir}
	err = wait.For(ctx, c.Timeout, func() error {
		if p.Exited() {
			return wait.Stop(p.Failure("exited at start"))
		}
		data, err := os.ReadFile(filepath.Join(c.Dir, "addrs.txt"))
		if err != nil {
			return err
		}
		if b.Addrs = strings.Fields(string(data)); len(b.Addrs) == 0 {
			return errors.New("addrs.txt is empty")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	return b, nil
}

// Stop stops the bootstrap (SIGTERM) and returns an error unless it
// exited cleanly.
func (b *Bootstrap) Stop() error { return b.Proc.Stop() }
