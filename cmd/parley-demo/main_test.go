package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestCommandLine: --help lists the demo's flags and a bad flag is a usage
// error, both without running the demo (package demo's test runs it).
func TestCommandLine(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("--help: exit %d\n%s", code, out.String())
	}
	for _, f := range []string{"--keep", "--verbose", "--version", "loopback"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %s:\n%s", f, out.String())
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"--no-such-flag"}, &out, &out); code != 2 || !strings.Contains(out.String(), "--no-such-flag") {
		t.Errorf("bad flag: exit %d, %q; want exit 2 naming the flag", code, out.String())
	}
}
