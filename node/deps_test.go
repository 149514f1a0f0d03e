package node_test

import (
	"runtime"
	"slices"
	"testing"

	"github.com/parleyhq/parley/internal/deptest"
)

// TestServiceDependencies fences the one-way dependencies between the
// node's services (docs/architecture.md):
//
//	account ← service ← presence ← contacts ← devices ← link
//	                                contacts ← calls ← conference
//
// A service must not link a service above it (nor the node that
// supervises them), directly or through another package.
func TestServiceDependencies(t *testing.T) {
	const mod = deptest.Module + "/node/"
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
		t.Run(pkg, func(t *testing.T) {
			g := deptest.Load(t, runtime.GOOS, "../node/"+pkg)
			g.Forbid(t, func(p string) string {
				if p == deptest.Module+"/node" {
					return pkg + " must not link the node that supervises it"
				}
				for _, b := range banned {
					if p == mod+b && !slices.Contains(g.Roots, p) {
						return pkg + " must not link " + b + ", which depends on it"
					}
				}
				return ""
			})
		})
	}
}
