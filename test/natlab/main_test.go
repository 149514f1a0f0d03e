package natlab

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// helperEnv marks a re-executed test binary as the lab's helper.
const helperEnv = "PARLEY_NATLAB_HELPER=1"

// TestMain runs the lab's helper when the lab re-executes this binary
// inside a namespace, and otherwise runs the tests with a signal handler
// that tears every lab down on SIGINT/SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_NATLAB_HELPER") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := HelperMain(ctx, os.Args[1:], os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "natlab: %v: tearing the labs down\n", s)
		if err := DownAll(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}()
	code := m.Run()
	if binsDir != "" {
		os.RemoveAll(binsDir)
	}
	os.Exit(code)
}

// labOptions are options for a test lab: the helper is this test binary,
// and progress goes to t.Logf.
func labOptions(t testing.TB, sites ...SiteConfig) Options {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{Sites: sites, Helper: []string{exe}, HelperEnv: []string{helperEnv}, Logf: t.Logf}
}

// newLab builds a lab for a test (skipping when the machine cannot) and
// tears it down when the test ends, also when it fails.
func newLab(t testing.TB, sites ...SiteConfig) *Lab {
	t.Helper()
	skipUnsupported(t)
	l, err := Up(context.Background(), labOptions(t, sites...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

func skipUnsupported(t testing.TB) {
	t.Helper()
	if err := Supported(); err != nil {
		t.Skipf("skipping the NAT lab: %v", err)
	}
}
