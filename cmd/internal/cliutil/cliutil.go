// Package cliutil holds what the Parley binaries share: the kong parser
// setup, the JSON config file loader (ConfigFile), range checks on flags
// (min/max tags), the version string, the default data directory,
// passphrase input and JSON output. It imports nothing heavy so that the
// parley CLI stays thin.
package cliutil

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"golang.org/x/term"
)

// Version and Commit are set at link time
// (-ldflags "-X github.com/parleyhq/parley/cmd/internal/cliutil.Version=v0.1.0");
// Commit falls back to the VCS revision recorded by the Go toolchain.
var (
	Version = "devel"
	Commit  = ""
)

// VersionString is what --version prints: "parleyd devel (commit abc1234, go1.26.8)".
func VersionString(binary string) string {
	commit := Commit
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && commit == "" {
				commit = s.Value
			}
		}
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "unknown"
	}
	return fmt.Sprintf("%s %s (commit %s, %s)", binary, Version, commit, goVersion)
}

// DefaultDataDir is where parleyd keeps its data when --data is not given:
// $XDG_DATA_HOME/parley, else ~/.local/share/parley.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "parley")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "parley")
	}
	return "parley-data"
}

// maxPassphrase bounds a passphrase read from a file or terminal.
const maxPassphrase = 4096

// ErrNoPassphrase means a passphrase was required but none was given and
// there is no terminal to ask on.
var ErrNoPassphrase = errors.New("no passphrase given")

// Passphrase is where a passphrase comes from, in order of preference: a
// file (first line), an environment variable, or a terminal prompt.
type Passphrase struct {
	File   string // path; "-" is standard input
	EnvVar string // name of an environment variable
	Prompt string // shown on a terminal; empty means never prompt
	// Confirm asks twice on a terminal (for new passphrases).
	Confirm bool
}

// Read returns the passphrase, or nil when none is configured and prompting
// is not possible or not wanted.
//
// A terminal prompt gives up when ctx is done (Ctrl-C), with ctx's error,
// and puts the terminal back as it was.
func (p Passphrase) Read(ctx context.Context, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	switch {
	case p.File == "-":
		return readFirstLine(stdin)
	case p.File != "":
		f, err := os.Open(p.File)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		defer f.Close()
		return readFirstLine(f)
	}
	if p.EnvVar != "" {
		if v, ok := os.LookupEnv(p.EnvVar); ok && v != "" {
			return []byte(v), nil
		}
	}
	if p.Prompt == "" {
		return nil, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, nil
	}
	fmt.Fprint(stderr, p.Prompt+": ")
	pw, err := readPassword(ctx, f)
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	if p.Confirm {
		fmt.Fprint(stderr, "again: ")
		again, err := readPassword(ctx, f)
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the two passphrases differ")
		}
	}
	return pw, nil
}

// readPassword reads a line from the terminal f without echo; when ctx is
// done first it restores the terminal and returns ctx's error (the read
// is abandoned: the process is about to exit).
func readPassword(ctx context.Context, f *os.File) ([]byte, error) {
	fd := int(f.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	pw, err := untilDone(ctx, func() ([]byte, error) { return term.ReadPassword(fd) })
	if ctx.Err() != nil {
		_ = term.Restore(fd, state)
	}
	return pw, err
}

// ReadLine reads one line (without its newline) from r, a person's answer
// at a prompt; when ctx is done first (Ctrl-C) it returns ctx's error.
func ReadLine(ctx context.Context, r io.Reader) (string, error) {
	line, err := untilDone(ctx, func() (string, error) {
		l, err := bufio.NewReader(io.LimitReader(r, maxPassphrase)).ReadString('\n')
		if err == io.EOF && l != "" {
			err = nil
		}
		return strings.TrimRight(l, "\r\n"), err
	})
	return line, err
}

// untilDone runs read and returns its result, or ctx's error when ctx is
// done first (read then goes on in the background until it returns).
func untilDone[T any](ctx context.Context, read func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := read()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func readFirstLine(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxPassphrase+1))
	line, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	if len(line) > maxPassphrase {
		return nil, fmt.Errorf("passphrase: longer than %d bytes", maxPassphrase)
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, fmt.Errorf("passphrase: %w (the file is empty)", ErrNoPassphrase)
	}
	return line, nil
}

// PrintJSON writes v as indented JSON.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// IsTerminal reports whether r is a terminal (an *os.File on a tty).
// Commands that would ask the user a question refuse instead of reading an
// answer from a pipe or file that nobody typed.
func IsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
