package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs parley-demo's code path and checks the story it tells and
// that it leaves nothing behind.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(context.Background(), &out, Options{Dir: dir}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{
		"ringing on alice-laptop and on alice-phone",
		"the laptop stopped ringing (answered elsewhere)",
		"Bob hears 660 Hz from Alice, Alice hears 440 Hz from Bob",
		"both screens show the same SAS",
		"none of them holds a private key",
		"Demo finished",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("demo left its data behind: %v", err)
	}
}
