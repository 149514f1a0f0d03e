package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/localclient"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// Config describes a parleyd to drive.
type Config struct {
	// Bins are the programs; Parleyd and Parley are used.
	Bins Binaries
	// Procs owns `parleyd run` (and runs `parleyd init` and the CLI with
	// its environment). Required.
	Procs *proc.Group
	// Name is the device name and labels the process.
	Name string
	// Dir is the data directory.
	Dir string
	// RunArgs are the flags of `parleyd run` besides --data and
	// --bootstrap. Nil means LoopbackRunArgs.
	RunArgs []string
	// Wrap is the command prefix of `parleyd run` (see proc.Spec); Env is
	// added to its environment. The CLI runs without them: the API is a
	// unix socket in Dir, reachable from any network namespace.
	Wrap, Env []string
	// Timeout bounds each wait. Defaults to DefaultTimeout.
	Timeout time.Duration
	// Logf, when set, is told of every CLI command and what it printed.
	Logf func(format string, args ...any)
}

// Parleyd is one parleyd data directory and, once started, its process.
type Parleyd struct {
	Config
	// AccountID and DeviceID are the identity's IDs.
	AccountID, DeviceID string
	// Proc is the running `parleyd run`; nil before Start.
	Proc *proc.Proc

	boot   []string // the bootstraps of the last Launch
	client *localclient.Client
}

// Init makes an identity with `parleyd init --data DIR --name NAME`
// (plus args) for a daemon not yet running.
func Init(ctx context.Context, c Config, args ...string) (*Parleyd, error) {
	return identify(ctx, c, append([]string{"init", "--data", c.Dir, "--name", c.Name, "--json"}, args...))
}

// Open drives a data directory made otherwise (by `parleyd init --link`,
// a restore), reading its IDs with `parleyd identity`.
func Open(ctx context.Context, c Config) (*Parleyd, error) {
	return identify(ctx, c, []string{"identity", "--data", c.Dir, "--json"})
}

func identify(ctx context.Context, c Config, args []string) (*Parleyd, error) {
	if c.RunArgs == nil {
		c.RunArgs = LoopbackRunArgs
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	d := &Parleyd{Config: c, client: localclient.New(filepath.Join(c.Dir, apitype.SocketName), c.Dir)}
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	r, err := c.Procs.Run(ctx, proc.Spec{Path: c.Bins.Parleyd, Args: args})
	if err != nil {
		return nil, err
	}
	var id apitype.Identity
	if err := json.Unmarshal([]byte(r.Stdout), &id); err != nil {
		return nil, fmt.Errorf("parleyd %s --json: %w", args[0], err)
	}
	d.AccountID, d.DeviceID = id.AccountID, id.DeviceID
	return d, nil
}

// Client is the daemon's local API client.
func (d *Parleyd) Client() *localclient.Client { return d.client }

// Launch runs `parleyd run` with the given bootstraps without waiting.
func (d *Parleyd) Launch(boot []string) error {
	a := args([]string{"run", "--data", d.Dir}, d.RunArgs)
	for _, b := range boot {
		a = append(a, "--bootstrap", b)
	}
	p, err := d.Procs.Start(proc.Spec{Name: "parleyd " + d.Name, Path: d.Bins.Parleyd, Args: a, Wrap: d.Wrap, Env: d.Env})
	if err != nil {
		return err
	}
	d.Proc, d.boot = p, boot
	return nil
}

// Start runs `parleyd run` and waits until it has published its
// presence.
func (d *Parleyd) Start(ctx context.Context, boot []string) error {
	if err := d.Launch(boot); err != nil {
		return err
	}
	return d.WaitPublished(ctx)
}

// Restart stops the daemon (it must exit cleanly) and starts it again
// with the same bootstraps.
func (d *Parleyd) Restart(ctx context.Context) error {
	if err := d.Stop(); err != nil {
		return err
	}
	return d.Start(ctx, d.boot)
}

// Stop stops the daemon with SIGTERM and returns an error unless it
// exited cleanly.
func (d *Parleyd) Stop() error {
	if d.Proc == nil {
		return nil
	}
	if err := d.Proc.Stop(); err != nil {
		return d.Proc.Failure(fmt.Sprintf("unclean stop: %v", err))
	}
	return nil
}

// Kill ends the daemon with SIGKILL (kill -9).
func (d *Parleyd) Kill() {
	if d.Proc != nil {
		d.Proc.Kill()
	}
}

// alive is nil while `parleyd run` runs, and a wait.Stop error (with the
// end of its output) once it has ended.
func (d *Parleyd) alive() error {
	if d.Proc == nil {
		return wait.Stop(fmt.Errorf("parleyd %s: not started", d.Name))
	}
	if d.Proc.Exited() {
		return wait.Stop(d.Proc.Failure("exited"))
	}
	return nil
}

// waitFor polls cond for up to d.Timeout, giving up when the daemon ends.
func (d *Parleyd) waitFor(ctx context.Context, what string, cond func() error) error {
	err := wait.For(ctx, d.Timeout, func() error {
		if err := d.alive(); err != nil {
			return err
		}
		return cond()
	})
	if err != nil {
		return fmt.Errorf("%s: %s: %w", d.Name, what, err)
	}
	return nil
}

// Status is the daemon's status.
func (d *Parleyd) Status(ctx context.Context) (*apitype.Status, error) { return d.client.Status(ctx) }

// WaitPublished waits until the daemon has published its presence.
func (d *Parleyd) WaitPublished(ctx context.Context) error {
	err := d.waitFor(ctx, "publish", func() error {
		s, err := d.client.Status(ctx)
		if err != nil {
			return err
		}
		return wait.Published(s)
	})
	if err != nil && d.Proc != nil && !d.Proc.Exited() {
		return fmt.Errorf("%w\n%w", err, d.Proc.Failure("not ready"))
	}
	return err
}

// WaitContact waits until account is a contact for which ok holds (see
// wait.ContactIs).
func (d *Parleyd) WaitContact(ctx context.Context, account string, ok func(apitype.Contact) bool) error {
	return d.waitFor(ctx, "contact", func() error {
		cs, err := d.client.Contacts(ctx)
		if err != nil {
			return err
		}
		return wait.Contact(cs, account, ok)
	})
}

// Call returns the daemon's view of call id.
func (d *Parleyd) Call(ctx context.Context, id string) (apitype.Call, error) {
	cs, err := d.client.Calls(ctx)
	if err != nil {
		return apitype.Call{}, err
	}
	return wait.Call(cs, id, func(apitype.Call) bool { return true })
}

// WaitCall waits until call id is listed and ok holds for it (see
// wait.CallIs), and returns it; it gives up at once when the call ends
// without ok holding.
func (d *Parleyd) WaitCall(ctx context.Context, id string, ok func(apitype.Call) bool) (apitype.Call, error) {
	var c apitype.Call
	err := d.waitFor(ctx, "call", func() error {
		cs, err := d.client.Calls(ctx)
		if err != nil {
			return err
		}
		c, err = wait.Call(cs, id, ok)
		return err
	})
	return c, err
}

// CLI runs `parley --data DIR args...` (bounded by a minute). The error
// is set when it exits non-zero, and carries its standard error.
func (d *Parleyd) CLI(ctx context.Context, args ...string) (proc.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	r, err := d.Procs.Run(ctx, proc.Spec{Path: d.Bins.Parley, Args: append([]string{"--data", d.Dir}, args...)})
	if d.Logf != nil {
		d.Logf("%s$ parley %s -> %d\n%s%s", d.Name, strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r, err
}

// CLIJSON runs `parley ARGS --json` and decodes its output into v.
func (d *Parleyd) CLIJSON(ctx context.Context, v any, args ...string) error {
	r, err := d.CLI(ctx, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
		return fmt.Errorf("parley %s --json: %w", strings.Join(args, " "), err)
	}
	return nil
}

// Befriend makes a and b contacts through the CLI: a sends a request, b
// accepts it, and both see the contact accepted.
func Befriend(ctx context.Context, a, b *Parleyd) error {
	if _, err := a.CLI(ctx, "contact", "add", b.AccountID); err != nil {
		return err
	}
	if err := b.WaitContact(ctx, a.AccountID, wait.ContactIs("request-received")); err != nil {
		return err
	}
	if _, err := b.CLI(ctx, "contact", "accept", a.AccountID); err != nil {
		return err
	}
	if err := a.WaitContact(ctx, b.AccountID, wait.ContactIs("accepted")); err != nil {
		return err
	}
	return b.WaitContact(ctx, a.AccountID, wait.ContactIs("accepted"))
}

// Stream returns a call's stream of a direction ("send", "receive") and
// kind ("audio", "video").
func Stream(c apitype.Call, direction, kind string) (apitype.Stream, bool) {
	for _, s := range c.Streams {
		if s.Direction == direction && s.Kind == kind {
			return s, true
		}
	}
	return apitype.Stream{}, false
}
