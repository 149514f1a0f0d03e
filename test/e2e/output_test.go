package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// TestCLIOutput: what parley prints reads well (issue 16 item 13):
// contacts' names instead of account IDs, header rows, parley calls shows
// the active and last few ended calls (--all for the rest), settings in a
// stable order, renames echo the new name, text events carry the call ID.
func TestCLIOutput(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	cli(t, alice, "contact", "add", bob.AccountID, "--name", "Bob")
	ok(t, bob.WaitContact(ctx, alice.AccountID, wait.ContactIs("request-received")))
	cli(t, bob, "contact", "accept", alice.AccountID)
	ok(t, alice.WaitContact(ctx, bob.AccountID, wait.ContactIs("accepted")))
	cli(t, bob, "set", "calls.auto_answer", "contacts")

	if r := cli(t, alice, "contact", "rename", bob.AccountID, "Bobby"); !strings.Contains(r.Stdout, `"Bobby"`) {
		t.Errorf("rename says %q; want the new name", r.Stdout)
	}
	if r := cli(t, alice, "contacts"); !strings.HasPrefix(r.Stdout, "STATE") || !strings.Contains(r.Stdout, "Bobby") {
		t.Errorf("contacts: %q; want a header row and the name", r.Stdout)
	}

	events, err := alice.Procs.Start(proc.Spec{Name: "parley-events", Path: alice.Bins.Parley, Args: []string{"--data", alice.Dir, "events"}})
	ok(t, err)
	// A contact is named on the command line by its name too, in any
	// case; a name no contact has says so.
	if r, err := alice.CLI(ctx, "call", "Nobody"); err == nil || !strings.Contains(r.Stderr, "nor the name of one of your contacts") {
		t.Errorf("parley call Nobody: %v, %q; want a refusal naming the contacts list", err, r.Stderr)
	}
	var ids []string
	for i := range 4 {
		var c apitype.Call
		who := bob.AccountID
		if i == 0 {
			who = "bobby"
		}
		cliJSON(t, alice, &c, "call", who, "--wait", "20s")
		cli(t, alice, "hangup", c.ID)
		_, err := alice.WaitCall(ctx, c.ID, wait.CallIs("ended"))
		ok(t, err)
		ids = append(ids, c.ID)
	}

	r := cli(t, alice, "calls")
	if !strings.HasPrefix(r.Stdout, "CALL ID") || !strings.Contains(r.Stdout, "Bobby") || strings.Contains(r.Stdout, bob.AccountID) {
		t.Errorf("calls: %q; want a header row and Bobby, not the account ID", r.Stdout)
	}
	if strings.Contains(r.Stdout, ids[0]) || !strings.Contains(r.Stdout, ids[3]) || !strings.Contains(r.Stdout, "parley calls --all") {
		t.Errorf("calls: %q; want the last 3 ended calls and a pointer to --all", r.Stdout)
	}
	r = cli(t, alice, "calls", "--all")
	for _, id := range ids {
		if !strings.Contains(r.Stdout, id) {
			t.Errorf("calls --all lacks call %s: %q", id, r.Stdout)
		}
	}
	var all []apitype.Call
	cliJSON(t, alice, &all, "calls")
	if len(all) != 4 {
		t.Errorf("calls --json lists %d calls, want all 4", len(all))
	}

	// Settings in one order, run after run.
	r = cli(t, alice, "set")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if !slices.IsSorted(lines) || len(lines) < 3 {
		t.Errorf("settings not sorted: %q", r.Stdout)
	}

	// Text events name the call and the contact.
	ok(t, events.Signal(syscall.SIGINT))
	select {
	case <-events.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("parley events did not stop")
	}
	found := false
	for _, l := range strings.Split(events.Output(), "\n") {
		if strings.Contains(l, "call.ended") {
			found = true
			if !slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(l, "call="+id) }) {
				t.Errorf("event line without the call ID: %q", l)
			}
			if !strings.Contains(l, "account=Bobby") {
				t.Errorf("event line without the contact's name: %q", l)
			}
		}
	}
	if !found {
		t.Errorf("no call.ended event in %q", events.Output())
	}

	// A removed contact is told: alice's list says bob removed her.
	cli(t, bob, "contact", "remove", alice.AccountID)
	ok(t, alice.WaitContact(ctx, bob.AccountID, wait.ContactIs("removed")))
	if r := cli(t, alice, "contacts"); !strings.Contains(r.Stdout, "removed") || !strings.Contains(r.Stdout, "Bobby") {
		t.Errorf("alice's contacts after bob removed her: %q", r.Stdout)
	}
}

// openPTY opens a pseudo-terminal pair (Linux).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestCallProgress: on a terminal, parley call says what it waits for
// (resolving and connecting, ringing, connected); into a pipe it says
// nothing of it (issue 16 item 14).
func TestCallProgress(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob := net.daemon("alice"), net.daemon("bob")
	net.start(alice, bob)
	cli(t, alice, "contact", "add", bob.AccountID, "--name", "Bob")
	ok(t, bob.WaitContact(ctx, alice.AccountID, wait.ContactIs("request-received")))
	cli(t, bob, "contact", "accept", alice.AccountID)
	ok(t, alice.WaitContact(ctx, bob.AccountID, wait.ContactIs("accepted")))
	cli(t, bob, "set", "calls.auto_answer", "contacts")

	// Standard error on a terminal.
	master, slave := openPTY(t)
	var mu sync.Mutex
	var tty bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			mu.Lock()
			tty.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, alice.Bins.Parley, "--data", alice.Dir, "call", bob.AccountID, "--wait", "20s", "--json")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, slave
	if err := cmd.Run(); err != nil {
		t.Fatalf("parley call on a terminal: %v", err)
	}
	var got string
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got = tty.String()
		mu.Unlock()
		if strings.Contains(got, "media flowing") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the terminal's reader
	}
	t.Logf("terminal:\n%s", got)
	for _, want := range []string{"resolving Bob's devices", "ringing on", "connected:"} {
		if !strings.Contains(got, want) {
			t.Errorf("parley call on a terminal did not say %q: %q", want, got)
		}
	}
	if strings.Contains(stdout.String(), "resolving") {
		t.Errorf("progress went to standard output: %q", stdout.String())
	}

	var c apitype.Call
	ok(t, json.Unmarshal(stdout.Bytes(), &c))
	cli(t, alice, "hangup", c.ID)
	_, err := bob.WaitCall(ctx, c.ID, wait.CallIs("ended"))
	ok(t, err)

	// Into a pipe: no progress.
	r := cli(t, alice, "call", bob.AccountID, "--wait", "20s")
	if strings.Contains(r.Stderr, "resolving") || strings.Contains(r.Stderr, "ringing") {
		t.Errorf("progress into a pipe: %q", r.Stderr)
	}
}
