package node_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServiceDependencies fences the one-way dependencies between the
// node's services (docs/architecture.md):
//
//	account ← service ← presence ← contacts ← devices ← link
//	                                contacts ← calls ← conference
//
// A service must not link a service above it, directly or through another
// package.
func TestServiceDependencies(t *testing.T) {
	const mod = "github.com/parleyhq/parley/node/"
	above := map[string][]string{
		"account":    {"service", "presence", "contacts", "devices", "link", "calls", "conference", "localapi"},
		"service":    {"presence", "contacts", "devices", "link", "calls", "conference", "localapi"},
		"presence":   {"contacts", "devices", "link", "calls", "conference", "localapi"},
		"contacts":   {"devices", "link", "calls", "conference", "localapi"},
		"devices":    {"link", "calls", "conference", "localapi"},
		"link":       {"calls", "conference", "localapi"},
		"calls":      {"devices", "link", "conference", "localapi"},
		"conference": {"devices", "link", "localapi"},
	}
	for pkg, banned := range above {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		if deps["github.com/parleyhq/parley/node"] {
			t.Errorf("%s links package node (the supervisor)", pkg)
		}
		for _, b := range banned {
			if deps[mod+b] {
				t.Errorf("%s links %s, which depends on it", pkg, b)
			}
		}
	}
}
