package e2e

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/test"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
)

// goQualified matches a Go package-qualified name at the head of a clause
// ("crypto.VerifyDevice: ", "callproto.ParseOffer: "): internal names that
// mean nothing to a person.
var goQualified = regexp.MustCompile(`[a-z]+\.[A-Z][A-Za-z]+:`)

// messageProblems lists what makes an error message read badly: a Go
// package-qualified name, a clause said twice ("x: x", or "(see parley
// calls) (see: parley calls)"), more than one line.
func messageProblems(msg string) []string {
	var out []string
	msg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(msg), "parley:"))
	if m := goQualified.FindString(msg); m != "" {
		out = append(out, "internal name "+m)
	}
	// One message: a usage error may add kong's "Run 'parley --help'"
	// line, nothing else may.
	if first, rest, _ := strings.Cut(msg, "\n"); rest != "" && !strings.HasPrefix(strings.TrimSpace(rest), "Run 'parley --help'") {
		out = append(out, "more than one line")
	} else {
		msg = first
	}
	seen := map[string]bool{}
	for _, c := range regexp.MustCompile(`: |; |\(|\)|, `).Split(msg, -1) {
		c = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c), "see:")))
		c = strings.TrimSpace(strings.TrimPrefix(c, "see"))
		if len(c) < 4 {
			continue
		}
		if seen[c] {
			out = append(out, "repeats "+`"`+c+`"`)
		}
		seen[c] = true
	}
	return out
}

func TestMessageProblems(t *testing.T) {
	bad := []string{
		"parley: caller is not a contact: caller is not a contact: this account only takes calls from its contacts",
		"parley: device revoked: callproto.ParseOffer: x",
		"parley: no such conference: 1a2b (see parley conference list) (see: parley conference list)",
		"parley: call ended: declined: declined",
		"parley: invalid input: crypto.ParseAccountID: bad character",
	}
	for _, m := range bad {
		if len(messageProblems(m)) == 0 {
			t.Errorf("%q passes", m)
		}
	}
	if p := messageProblems("parley: no such call 1a2b: see parley calls"); len(p) != 0 {
		t.Errorf("a clean message fails: %v", p)
	}
}

// TestErrorMessages walks the errors the common flows give through the
// real binaries (issue 16 item 5): each is one line for a person, with no
// repeated clause and no Go package-qualified name, and says what to do.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	net := newNetwork(t)
	ctx := t.Context()
	alice, bob, carol := net.daemon("alice"), net.daemon("bob"), net.daemon("carol")
	net.start(alice, bob, carol)
	ok(t, daemon.Befriend(ctx, alice, bob))

	good := alice.AccountID
	// A valid account ID with one data character changed: a checksum
	// error.
	flip := []byte(good)
	if flip[10] == 'q' {
		flip[10] = 'p'
	} else {
		flip[10] = 'q'
	}
	var aliceDev string
	{
		s, err := alice.Status(ctx)
		ok(t, err)
		aliceDev = s.Identity.DeviceID
	}

	type tc struct {
		who  *daemon.Parleyd
		args []string
		want string // a part the message must have (its cause or its fix)
	}
	cases := []tc{
		{alice, []string{"contact", "add", "parley1qqqq"}, "not an account ID"},
		{alice, []string{"contact", "add", good[:len(good)-1]}, "account ID"},
		{alice, []string{"contact", "add", "parlay1" + good[len("parley1"):]}, "parley1"},
		{alice, []string{"contact", "add", aliceDev}, "device ID"},
		{alice, []string{"contact", "add", string(flip)}, "account ID"},
		{alice, []string{"contact", "add", "parley1qqqq!"}, "account ID"},
		{alice, []string{"contact", "add", alice.AccountID}, ""},
		{alice, []string{"contact", "accept", carol.AccountID}, ""},
		{alice, []string{"contact", "remove", carol.AccountID}, ""},
		{alice, []string{"contact", "rename", carol.AccountID, "Carol"}, ""},
		{alice, []string{"contact", "rename", bob.AccountID, ""}, "empty"},
		{alice, []string{"contacts", "add", bob.AccountID}, "parley contact add"},
		{alice, []string{"lookup", "xyz"}, "account ID"},
		{alice, []string{"call", aliceDev}, "device ID"},
		{alice, []string{"answer"}, ""},
		{alice, []string{"answer", "0123456789abcdef"}, "parley calls"},
		{alice, []string{"hangup", "0123456789abcdef"}, "parley calls"},
		{alice, []string{"decline"}, ""},
		{alice, []string{"hangup", strings.Repeat("ab", 16)}, "parley calls"},
		{alice, []string{"conference", "join", strings.Repeat("ab", 16)}, "parley conference list"},
		{alice, []string{"conference", "leave", strings.Repeat("cd", 16)}, "parley conference list"},
		{alice, []string{"conference", "join", "0123456789abcdef"}, "parley conference list"},
		{alice, []string{"conference", "leave", "0123456789abcdef"}, "parley conference list"},
		{alice, []string{"conference", "invite", "0123456789abcdef", bob.AccountID}, "parley conference list"},
		{alice, []string{"devices", "revoke", "zzzzzzzz", "--yes"}, "parley devices"},
		{alice, []string{"devices", "revoke", aliceDev, "--yes"}, ""},
		{alice, []string{"devices", "promote", "zzzzzzzz", "--yes"}, ""},
		{alice, []string{"link", "approve", "nonsense", "--no-prompt"}, ""},
		{alice, []string{"set", "calls.nope", "x"}, ""},
		{alice, []string{"set", "calls.auto_answer", "always"}, ""},
		{alice, []string{"set", "calls.auto_record", "/proc/parley-nope"}, "/proc/parley-nope"},
		{alice, []string{"call", bob.AccountID, "--audio", "/nonexistent/missing.ogg"}, "no such file"},
		{alice, []string{"call", bob.AccountID, "--audio", "tone:99999999"}, "below 4000 Hz"},
		{alice, []string{"call", bob.AccountID, "--record", "/proc/parley-nope/dir"}, "/proc/parley-nope"},
	}
	// A conference alice started: inviting a stranger is refused.
	var cf struct{ ID string }
	cliJSON(t, alice, &cf, "conference", "start", "--audio", "none")
	cases = append(cases, tc{alice, []string{"conference", "invite", cf.ID, carol.AccountID}, ""})

	for _, c := range cases {
		r, err := c.who.CLI(ctx, c.args...)
		if err == nil {
			t.Errorf("parley %s succeeded; want an error", strings.Join(c.args, " "))
			continue
		}
		msg := strings.TrimSpace(r.Stderr)
		t.Logf("MSG parley %s: %s", strings.Join(c.args, " "), msg)
		if p := messageProblems(msg); len(p) > 0 {
			t.Errorf("parley %s: %q: %s", strings.Join(c.args, " "), msg, strings.Join(p, ", "))
		}
		if c.want != "" && !strings.Contains(msg, c.want) {
			t.Errorf("parley %s: %q does not say %q", strings.Join(c.args, " "), msg, c.want)
		}
	}

	// Call failures: a stranger refuses the call; a contact declines it.
	callErr := func(who *daemon.Parleyd, callee *daemon.Parleyd, act func()) string {
		t.Helper()
		p, err := who.Procs.Start(proc.Spec{Name: "parley-call", Path: who.Bins.Parley,
			Args: []string{"--data", who.Dir, "call", callee.AccountID, "--audio", "none", "--wait", "30s"}})
		ok(t, err)
		if act != nil {
			act()
		}
		select {
		case <-p.Done():
		case <-time.After(40 * time.Second):
			t.Fatal("parley call did not end")
		}
		if p.ExitCode() == 0 {
			t.Fatalf("parley call to %s succeeded: %s", callee.Name, p.Output())
		}
		return p.Output()
	}
	refused := callErr(alice, carol, nil)
	declined := callErr(alice, bob, func() {
		test.WaitFor(t, 20*time.Second, func() error {
			cs, err := bob.Client().Calls(ctx)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.State == "ringing" {
					_, err := bob.CLI(ctx, "decline", c.ID)
					return err
				}
			}
			return errors.New("bob is not ringing yet")
		})
	})
	// A contact that blocked alice refuses her call: the callee's
	// refusal comes back over the wire.
	cli(t, bob, "contact", "block", alice.AccountID)
	blocked := callErr(alice, bob, nil)
	for _, msg := range []string{refused, declined, blocked} {
		t.Logf("MSG parley call: %s", msg)
		if p := messageProblems(msg); len(p) > 0 {
			t.Errorf("parley call: %q: %s", msg, strings.Join(p, ", "))
		}
	}
}
