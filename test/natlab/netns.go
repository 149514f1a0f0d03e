package natlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/test/proc"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// Supported reports whether the lab can run here (Linux, root, `ip` and
// `iptables-restore` on PATH) and, if not, why.
func Supported() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: needs Linux network namespaces, this is %s", ErrNotSupported, runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (network namespaces, iptables)", ErrNotSupported)
	}
	for _, bin := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install iproute2 iptables)", ErrNotSupported, bin)
		}
	}
	return nil
}

// run runs a command to completion and returns its combined output; the
// error names the command and carries the output.
func run(ctx context.Context, stdin string, name string, args ...string) ([]byte, error) {
	s := proc.Spec{Path: name, Args: args}
	if stdin != "" {
		s.Stdin = strings.NewReader(stdin)
	}
	r, err := proc.Run(ctx, s)
	return []byte(r.Stdout + r.Stderr), err
}

// inNetns runs fn on an OS thread that has joined the named network
// namespace. Sockets fn creates belong to that namespace for their whole
// life and may be used from any goroutine afterwards; files fn opens under
// /proc/sys/net are that namespace's. If the thread cannot be moved back,
// it is left locked so the runtime discards it.
func inNetns(name string, fn func() error) error {
	target, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("natlab: open netns %s: %w", name, err)
	}
	defer unix.Close(target)
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("natlab: open own netns: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("natlab: enter netns %s: %w", name, err)
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Keep the thread locked: it dies with this goroutine.
		return fmt.Errorf("natlab: leave netns %s: %w", name, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// sysctls writes net sysctls (keys like "ipv4.ip_forward") inside a
// namespace.
func sysctls(ns string, kv ...string) error {
	return inNetns(ns, func() error {
		for i := 0; i+1 < len(kv); i += 2 {
			p := "/proc/sys/net/" + strings.ReplaceAll(kv[i], ".", "/")
			if err := os.WriteFile(p, []byte(kv[i+1]), 0); err != nil {
				return fmt.Errorf("natlab: sysctl net.%s in %s: %w", kv[i], ns, err)
			}
		}
		return nil
	})
}

// nsExists reports whether a named namespace exists.
func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}
