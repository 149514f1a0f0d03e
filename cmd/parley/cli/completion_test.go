package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// runAsCLIEnv makes the test binary behave as the parley binary, so the
// completion scripts can call it back.
const runAsCLIEnv = "PARLEY_TEST_RUN_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCLIEnv) == "1" {
		os.Exit(Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// completeLines runs `parley completion complete -- words...` in process and
// returns the words it printed (descriptions dropped) and the exit code.
func completeLines(t *testing.T, words ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	args := append([]string{"completion", "complete", "--"}, words...)
	if code := Run(context.Background(), args, nil, &out, &errb); code != 0 {
		t.Fatalf("complete %q: exit %d: %s", words, code, errb.String())
	}
	var got []string
	for line := range strings.Lines(out.String()) {
		w, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		got = append(got, w)
	}
	return got
}

func TestComplete(t *testing.T) {
	noDaemon := t.TempDir()
	tests := []struct {
		name  string
		words []string
		want  []string // exactly these, in this order
		has   []string // at least these
		not   []string // none of these
	}{
		{name: "commands", words: []string{""}, has: []string{"call", "contact", "contacts", "completion", "status"}, not: []string{"complete", "--data"}},
		{name: "command prefix", words: []string{"con"}, want: []string{"conference", "contact", "contacts"}},
		{name: "subcommands", words: []string{"contact", ""}, want: []string{"accept", "add", "block", "decline", "remove", "rename"}},
		{name: "hidden helper not offered", words: []string{"completion", ""}, want: []string{"bash", "zsh"}},
		{name: "flags of the command and its parents", words: []string{"call", "parley1x", "--"}, has: []string{"--audio", "--wait", "--json", "--data", "--socket"}, not: []string{"--message"}},
		{name: "flag prefix", words: []string{"--da"}, want: []string{"--data"}},
		{name: "flag value skipped", words: []string{"--data", "./alice", "sta"}, want: []string{"status"}},
		{name: "short flag value skipped", words: []string{"-d", "./alice", "sta"}, want: []string{"status"}},
		{name: "bash splits at =", words: []string{"--data", "=", "./alice", "sta"}, want: []string{"status"}},
		{name: "zsh keeps --flag=value", words: []string{"--data=./alice", "contact", "a"}, want: []string{"accept", "add"}},
		{name: "directory flag", words: []string{"--data", ""}, want: []string{":dirs"}},
		{name: "directory flag after = (bash)", words: []string{"--data", "=", ""}, want: []string{":dirs"}},
		{name: "--flag= form (zsh)", words: []string{"--data=./a"}, want: []string{":dirs"}},
		{name: "media source", words: []string{"call", "parley1x", "--audio", ""}, want: []string{":files", "tone", "tone:", "rtp://127.0.0.1:", "none"}},
		{name: "media source prefix", words: []string{"call", "parley1x", "--audio", "to"}, want: []string{":files", "tone", "tone:"}},
		{name: "media source --flag= (zsh)", words: []string{"conference", "start", "--audio=rt"}, want: []string{":files", "--audio=rtp://127.0.0.1:"}},
		{name: "video source", words: []string{"call", "parley1x", "--video", ""}, want: []string{":files", "rtp://127.0.0.1:"}},
		{name: "record target", words: []string{"answer", "--record", ""}, want: []string{":files", "rtp://127.0.0.1:"}},
		{name: "free-text flag", words: []string{"contact", "add", "parley1x", "--message", ""}, want: nil},
		{name: "bool flag takes no value", words: []string{"calls", "--json", ""}, want: nil},
		{name: "after --", words: []string{"call", "--", "--"}, want: nil},
		{name: "no daemon: no IDs, no error", words: []string{"--data", noDaemon, "call", ""}, want: nil},
		{name: "demo is a command", words: []string{"de"}, want: []string{"decline", "demo", "devices"}},
		{name: "demo's arguments are parley-demo's", words: []string{"demo", "--"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := completeLines(t, tt.words...)
			if tt.has == nil && tt.not == nil && !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for _, w := range tt.has {
				if !slices.Contains(got, w) {
					t.Errorf("%q missing from %q", w, got)
				}
			}
			for _, w := range tt.not {
				if slices.Contains(got, w) {
					t.Errorf("%q offered in %q", w, got)
				}
			}
		})
	}
}

// testGrammar has what the parley grammar lacks: enum flags and arguments,
// an existing-directory flag, aliases and negatable flags.
type testGrammar struct {
	Level string `enum:"debug,info,warn" default:"info"`
	Mode  string `short:"m" enum:"auto,client,server" default:"auto"`
	Out   string `type:"existingdir"`
	Color bool   `negatable:""`
	Get   struct {
		Kind string `arg:"" enum:"alpha,beta"`
		Name string `arg:""`
	} `cmd:"" aliases:"fetch"`
	Put struct{} `cmd:""`
}

func TestCompleteModel(t *testing.T) {
	var g testGrammar
	p, err := kong.New(&g)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		words     []string
		want      []string
		directive string
	}{
		{"enum flag", []string{"--level", ""}, []string{"debug", "info", "warn"}, ""},
		{"enum flag prefix", []string{"--level", "d"}, []string{"debug"}, ""},
		{"enum flag, --flag= form", []string{"--mode=c"}, []string{"--mode=client"}, ""},
		{"enum flag after bash's =", []string{"--mode", "=", "s"}, []string{"server"}, ""},
		{"short enum flag", []string{"-m", ""}, []string{"auto", "client", "server"}, ""},
		{"attached short value skipped", []string{"-mclient", "p"}, []string{"put"}, ""},
		{"directory flag", []string{"--out", ""}, nil, directiveDirs},
		{"negated bool takes no value", []string{"--no-color", "g"}, []string{"get"}, ""},
		{"enum argument", []string{"get", ""}, []string{"alpha", "beta"}, ""},
		{"enum argument through an alias", []string{"fetch", "b"}, []string{"beta"}, ""},
		{"second argument has no values", []string{"get", "alpha", ""}, nil, ""},
		{"arguments exhausted", []string{"get", "alpha", "x", ""}, nil, ""},
		{"unknown flag taken as bool", []string{"--nope", "pu"}, []string{"put"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := walk(p.Model.Node, tt.words[:len(tt.words)-1])
			cands, directive := st.complete(context.Background(), &globals{ctx: context.Background()}, tt.words[len(tt.words)-1])
			var got []string
			for _, c := range cands {
				got = append(got, c.word)
			}
			if !slices.Equal(got, tt.want) || directive != tt.directive {
				t.Fatalf("got %q %q, want %q %q", got, directive, tt.want, tt.directive)
			}
		})
	}
}

// fakeDaemon serves the few local API endpoints completion reads on
// DIR/parleyd.sock; block makes every request hang until the test ends.
func fakeDaemon(t *testing.T, block bool) string {
	t.Helper()
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "pc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, apitype.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	answers := map[string]any{
		"contacts": []apitype.Contact{
			{AccountID: "parley1bobbb", Name: "Bob", State: "accepted"},
			{AccountID: "parley1carol", State: "request-received"},
		},
		"calls": []apitype.Call{
			{ID: "c1", Direction: "incoming", State: "ringing", Peer: "parley1bobbb"},
			{ID: "c0", State: "ended"},
		},
		"conferences": []apitype.Conference{{ID: "conf9", Participants: make([]apitype.Participant, 2)}},
		"settings":    map[string]string{"calls.auto_answer": "off", "calls.allow_non_contacts": "false"},
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if block {
			select {
			case <-done:
			case <-r.Context().Done():
			}
			return
		}
		v, ok := answers[strings.TrimPrefix(r.URL.Path, apitype.Prefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		close(done)
		_ = srv.Close()
	})
	return dir
}

func TestCompleteFromDaemon(t *testing.T) {
	dir := fakeDaemon(t, false)
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{"accounts", []string{"--data", dir, "call", ""}, []string{"parley1bobbb", "parley1carol"}},
		{"account prefix", []string{"--data", dir, "contact", "accept", "parley1c"}, []string{"parley1carol"}},
		{"--socket names the daemon", []string{"--socket", filepath.Join(dir, apitype.SocketName), "lookup", ""}, []string{"parley1bobbb", "parley1carol"}},
		{"calls not ended", []string{"-d", dir, "hangup", ""}, []string{"c1"}},
		{"conferences", []string{"--data=" + dir, "conference", "leave", ""}, []string{"conf9"}},
		{"settings", []string{"--data", dir, "set", ""}, []string{"calls.allow_non_contacts", "calls.auto_answer"}},
		{"setting value is free", []string{"--data", dir, "set", "calls.auto_answer", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := completeLines(t, tt.words...); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	var out bytes.Buffer
	Run(context.Background(), []string{"completion", "complete", "--", "--data", dir, "call", ""}, nil, &out, &out)
	if !strings.Contains(out.String(), "parley1bobbb\tBob (accepted)\n") {
		t.Errorf("no description for Bob in %q", out.String())
	}
}

// TestCompleteHungDaemon: a daemon that does not answer costs a Tab at most
// about completeTimeout, and offers nothing.
func TestCompleteHungDaemon(t *testing.T) {
	dir := fakeDaemon(t, true)
	start := time.Now()
	got := completeLines(t, "--data", dir, "call", "")
	if took := time.Since(start); took > completeTimeout+2*time.Second {
		t.Fatalf("completion took %v", took)
	}
	if got != nil {
		t.Fatalf("got %q", got)
	}
}

// bashComplete loads the bash script, sets COMP_WORDS/COMP_CWORD as bash
// does for the command line words, calls _parley and returns COMPREPLY. The
// script calls this test binary back as parley.
func bashComplete(t *testing.T, bash, script, dir string, words ...string) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	quoted := []string{shellQuote(self)}
	for _, w := range words {
		quoted = append(quoted, shellQuote(w))
	}
	prog := "source " + shellQuote(script) + "\n" +
		"COMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=" + strconv.Itoa(len(words)) + "\n" +
		"_parley\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runAsCLIEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	var got []string
	for line := range strings.Lines(string(out)) {
		if line = strings.TrimSuffix(line, "\n"); line != "" {
			got = append(got, line)
		}
	}
	return got
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestBashScript runs the bash script in a real bash against this binary.
func TestBashScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed: skipping the bash completion script test")
	}
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"completion", "bash"}, nil, &out, &out); code != 0 {
		t.Fatalf("completion bash: exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "complete -F _parley parley") {
		t.Fatalf("no complete line in:\n%s", out.String())
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "parley.bash")
	if err := os.WriteFile(script, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alice.ogg"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "some.file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{"command prefix", []string{"con"}, []string{"conference", "contact", "contacts"}},
		{"subcommand", []string{"contact", "ac"}, []string{"accept"}},
		{"flag", []string{"call", "parley1x", "--wa"}, []string{"--wait"}},
		{"file", []string{"call", "parley1x", "--audio", "al"}, []string{"alice.ogg"}},
		{"tone", []string{"call", "parley1x", "--audio", "to"}, []string{"tone", "tone:"}},
		{"directory", []string{"--data", "s"}, []string{"sub"}},
		{"file after --flag= (cursor on the =)", []string{"call", "parley1x", "--audio", "="}, []string{"alice.ogg", "none", "parley.bash", "rtp://127.0.0.1:", "some.file", "sub", "tone", "tone:"}},
		{"file after --flag=a", []string{"call", "parley1x", "--audio", "=", "a"}, []string{"alice.ogg"}},
		{"nothing", []string{"contact", "add", "parley1x", "--message", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bashComplete(t, bash, script, dir, tt.words...)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("COMPREPLY = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestZshScript checks the zsh script parses (zsh -n) when zsh is installed;
// driving zsh's completion system needs a terminal, so it is not run.
func TestZshScript(t *testing.T) {
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"completion", "zsh"}, nil, &out, &out); code != 0 {
		t.Fatalf("completion zsh: exit %d: %s", code, out.String())
	}
	for _, want := range []string{"#compdef parley\n", "compdef _parley parley", "completion complete --"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("zsh script lacks %q", want)
		}
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh not installed: only the script's text was checked")
	}
	cmd := exec.Command(zsh, "-n")
	cmd.Stdin = &out
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, b)
	}
}
