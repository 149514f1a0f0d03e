package natlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// BuildTag is the build tag of the lab's Parley binaries. It adds one thing
// to them: with $PARLEY_LAB_SRTP_KEYLOG set, each call's SRTP keys are
// appended to that file, so the capture test knows what must not appear on
// the wire (see node/calltransport/labkeylog_lab.go).
const BuildTag = "parleylab"

// KeyLogEnv is the environment variable lab binaries read (see BuildTag).
const KeyLogEnv = "PARLEY_LAB_SRTP_KEYLOG"

// Timeouts of the Parley steps.
const (
	bootstrapTimeout = 20 * time.Second
	publishTimeout   = 30 * time.Second
	contactTimeout   = 30 * time.Second
	reachTimeout     = 90 * time.Second
	cliTimeout       = time.Minute
)

// Binaries are the paths of the Parley programs the lab runs.
type Binaries struct {
	Parleyd, Parley, Bootstrap string
}

// ModuleRoot is the directory of the Parley module (from this source
// file's location).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// BinDirEnv names a directory of prebuilt lab binaries (built with
// -tags parleylab) that Build uses instead of compiling.
const BinDirEnv = "PARLEY_NATLAB_BIN"

// Build compiles parleyd, parley and parley-bootstrap with the lab's build
// tag into dir, or, when $PARLEY_NATLAB_BIN is set, uses the binaries there.
func Build(ctx context.Context, dir string) (Binaries, error) {
	if pre := os.Getenv(BinDirEnv); pre != "" {
		return binariesIn(pre), nil
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", BuildTag, "-o", dir+string(filepath.Separator),
		"./cmd/parleyd", "./cmd/parley", "./cmd/parley-bootstrap")
	cmd.Dir = ModuleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("natlab: go build: %w\n%s", err, out)
	}
	return binariesIn(dir), nil
}

func binariesIn(dir string) Binaries {
	return Binaries{
		Parleyd:   filepath.Join(dir, "parleyd"),
		Parley:    filepath.Join(dir, "parley"),
		Bootstrap: filepath.Join(dir, "parley-bootstrap"),
	}
}

// Bootstrap is a parley-bootstrap running in the server namespace on
// BootstrapAddr: libp2p on TCP and QUIC port 4001, STUN/TURN on 3478 (UDP
// and TCP) with relayed addresses on BootstrapAddr.
type Bootstrap struct {
	Proc  *Proc
	Dir   string
	Addrs []string // its multiaddrs, from addrs.txt
}

// StartBootstrap runs parley-bootstrap with its data in dir and waits for
// its addresses.
// Extra flags are appended to the command line.
func (l *Lab) StartBootstrap(ctx context.Context, bins Binaries, dir string, extra ...string) (*Bootstrap, error) {
	ip := BootstrapAddr.String()
	args := append([]string{"--data-dir", dir,
		"--listen", "/ip4/" + ip + "/tcp/4001", "--listen", "/ip4/" + ip + "/udp/4001/quic-v1",
		"--turn-listen", ip + ":3478", "--turn-relay-ip", ip, "--metrics-addr", ""}, extra...)
	p, err := l.Start(l.server, "parley-bootstrap", nil, bins.Bootstrap, args...)
	if err != nil {
		return nil, err
	}
	b := &Bootstrap{Proc: p, Dir: dir}
	err = poll(ctx, bootstrapTimeout, func() error {
		if p.Exited() {
			return fmt.Errorf("natlab: parley-bootstrap exited:\n%s", p.Output())
		}
		data, err := os.ReadFile(filepath.Join(dir, "addrs.txt"))
		if err != nil {
			return err
		}
		if b.Addrs = strings.Fields(string(data)); len(b.Addrs) == 0 {
			return errors.New("addrs.txt is empty")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("natlab: bootstrap: %w", err)
	}
	return b, nil
}

// Daemon is a parleyd in a site's host namespace, driven with the parley
// CLI from the lab's own namespace (the API is a unix socket in Dir, a
// file, reachable from any network namespace).
type Daemon struct {
	lab  *Lab
	bins Binaries
	// Name is the device name.
	Name string
	// Dir is the data directory.
	Dir string
	// Site is where the daemon runs.
	Site *Site
	// AccountID and DeviceID are the identity's IDs.
	AccountID, DeviceID string
	// KeyLog is the file the daemon's SRTP keys are logged to.
	KeyLog string
	// Proc is the running parleyd, nil before Start.
	Proc *Proc
}

// NewDaemon makes an identity with `parleyd init` in dir for a daemon that
// will run at site.
func (l *Lab) NewDaemon(ctx context.Context, bins Binaries, site *Site, name, dir string) (*Daemon, error) {
	d := &Daemon{lab: l, bins: bins, Name: name, Dir: dir, Site: site, KeyLog: filepath.Join(dir, "srtp-keys.log")}
	out, err := run(ctx, "", bins.Parleyd, "init", "--data", dir, "--name", name, "--json")
	if err != nil {
		return nil, err
	}
	var id apitype.Identity
	if err := json.Unmarshal(out, &id); err != nil {
		return nil, fmt.Errorf("natlab: parleyd init output: %w", err)
	}
	d.AccountID, d.DeviceID = id.AccountID, id.DeviceID
	return d, nil
}

// Start runs parleyd in the site's host namespace and waits until it has
// published its presence.
func (d *Daemon) Start(ctx context.Context, boot []string, logLevel string) error {
	args := []string{"run", "--data", d.Dir,
		"--listen", "/ip4/0.0.0.0/tcp/0", "--listen", "/ip4/0.0.0.0/udp/0/quic-v1",
		"--dht-mode", "client", "--retry-interval", "500ms", "--log-level", logLevel}
	for _, b := range boot {
		args = append(args, "--bootstrap", b)
	}
	if d.Site.Kind != None {
		// Known to be behind NAT: reserve relay slots at once instead of
		// waiting ~15 s for AutoNAT's first probe.
		args = append(args, "--reachability", "private")
	}
	p, err := d.lab.Start(d.Site.Host, "parleyd "+d.Name, []string{KeyLogEnv + "=" + d.KeyLog}, d.bins.Parleyd, args...)
	if err != nil {
		return err
	}
	d.Proc = p
	return poll(ctx, publishTimeout, func() error {
		if p.Exited() {
			return fmt.Errorf("natlab: parleyd %s exited:\n%s", d.Name, p.Output())
		}
		var s apitype.Status
		if err := d.CLIJSON(ctx, &s, "status"); err != nil {
			return err
		}
		if s.Published.IsZero() {
			return fmt.Errorf("%s has not published its presence", d.Name)
		}
		return nil
	})
}

// waitRelayAddr polls until the daemon lists a circuit relay address (it
// holds a reservation on the bootstrap, so NATed peers can reach it).
func (d *Daemon) waitRelayAddr(ctx context.Context) error {
	return poll(ctx, reachTimeout, func() error {
		var s apitype.Status
		if err := d.CLIJSON(ctx, &s, "status"); err != nil {
			return err
		}
		for _, a := range s.Addrs {
			if strings.Contains(a, "/p2p-circuit") {
				return nil
			}
		}
		return fmt.Errorf("%s has no relay address yet (reachability %s)", d.Name, s.Reachability)
	})
}

// CLI runs `parley --data DIR args...` and returns its stdout; a non-zero
// exit is an error carrying stderr.
func (d *Daemon) CLI(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bins.Parley, append([]string{"--data", d.Dir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("natlab: parley %s (%s): %w: %s", strings.Join(args, " "), d.Name, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// CLIJSON runs `parley ... --json` and decodes its output into v.
func (d *Daemon) CLIJSON(ctx context.Context, v any, args ...string) error {
	out, err := d.CLI(ctx, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("natlab: parley %s output: %w", strings.Join(args, " "), err)
	}
	return nil
}

// Call returns the daemon's view of call id.
func (d *Daemon) Call(ctx context.Context, id string) (apitype.Call, error) {
	var cs []apitype.Call
	if err := d.CLIJSON(ctx, &cs, "calls"); err != nil {
		return apitype.Call{}, err
	}
	for _, c := range cs {
		if c.ID == id {
			return c, nil
		}
	}
	return apitype.Call{}, fmt.Errorf("natlab: %s does not list call %s", d.Name, id)
}

// waitContact polls until account is in state want on d with nothing
// pending.
func (d *Daemon) waitContact(ctx context.Context, account, want string) error {
	return poll(ctx, contactTimeout, func() error {
		var cs []apitype.Contact
		if err := d.CLIJSON(ctx, &cs, "contacts"); err != nil {
			return err
		}
		for _, c := range cs {
			if c.AccountID == account && c.State == want && !c.Pending {
				return nil
			}
		}
		return fmt.Errorf("%s: contact %s is not %s", d.Name, account, want)
	})
}

// Befriend makes a and b contacts: a sends a request, b accepts it, and
// both see the contact accepted. Both messages cross the lab (directly or
// through the circuit relay), so it also proves each can reach the other.
func Befriend(ctx context.Context, a, b *Daemon) error {
	if _, err := a.CLI(ctx, "contact", "add", b.AccountID); err != nil {
		return err
	}
	if err := b.waitContact(ctx, a.AccountID, "request-received"); err != nil {
		return err
	}
	if _, err := b.CLI(ctx, "contact", "accept", a.AccountID); err != nil {
		return err
	}
	if err := a.waitContact(ctx, b.AccountID, "accepted"); err != nil {
		return err
	}
	return b.waitContact(ctx, a.AccountID, "accepted")
}

// poll calls cond until it returns nil, the timeout passes or ctx ends; the
// error then carries cond's last error.
func poll(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v: %w", ErrTimeout, timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-time.After(delay): // polling interval, not a wait for state
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}
