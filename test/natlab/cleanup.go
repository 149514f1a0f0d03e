package natlab

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strconv"

	"golang.org/x/sys/unix"
)

// labNamespace matches the names Up gives namespaces and captures the PID
// of the process that made them.
var labNamespace = regexp.MustCompile(`^plab([0-9]+)-[0-9]+-(inet|[rh][0-9]+)$`)

// CleanupStale deletes the namespaces of labs whose process no longer
// exists (a lab killed with SIGKILL cannot tear itself down) and returns
// their names. Namespaces of running processes, and every namespace whose
// name the lab would not have chosen, are left alone. Processes still
// inside a deleted namespace keep running; those were the dead lab's
// children, started with PR_SET_PDEATHSIG, so they died with it.
func CleanupStale(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for _, e := range entries {
		m := labNamespace.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || processAlive(pid) {
			continue
		}
		if _, err := run(ctx, "", "ip", "netns", "delete", e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, e.Name())
	}
	return deleted, errors.Join(errs...)
}

// processAlive reports whether a process with this PID exists.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
