package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the CLI a thin client: it must reach the daemon through the
// local API only, so it never links the networking or media stacks.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	bannedPrefixes := []string{"github.com/libp2p/", "github.com/pion/", "go.etcd.io/bbolt"}
	bannedExact := []string{"github.com/parleyhq/parley/node", "github.com/parleyhq/parley/store", "github.com/parleyhq/parley/node/localapi"}
	usesClient := false
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range bannedPrefixes {
			if strings.HasPrefix(dep, b) {
				t.Errorf("parley CLI depends on %s; it must reach the daemon through node/localclient only", dep)
			}
		}
		for _, b := range bannedExact {
			if dep == b {
				t.Errorf("parley CLI depends on %s; it must reach the daemon through node/localclient only", dep)
			}
		}
		usesClient = usesClient || dep == "github.com/parleyhq/parley/node/localclient"
	}
	if !usesClient {
		t.Errorf("parley CLI does not use node/localclient")
	}
}
