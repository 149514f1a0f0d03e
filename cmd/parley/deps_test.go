package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The parley binary is a thin client of parleyd's local API: it must not
// link the network, media or storage stacks (they make it 45 MB instead of
// a few), nor any of the daemon's or the bootstrap server's packages.
var (
	// bannedDeps are import path prefixes no package of the binary may have.
	bannedDeps = []string{
		"github.com/libp2p/",
		"github.com/pion/",
		"github.com/quic-go/",
		"github.com/multiformats/", // multiaddr and friends come with libp2p
		"github.com/ipfs/",
		"go.etcd.io/bbolt",
		module + "/store",
		module + "/bootstrap",
		module + "/cmd/parley-demo",
	}
	// allowedNodeDeps are the only packages under node/ it may use.
	allowedNodeDeps = []string{
		module + "/node/localclient",
		module + "/node/localapi/apitype",
	}
)

const module = "github.com/parleyhq/parley"

// TestDeps lists the packages the parley binary links (go list -deps on
// this package, the binary's main) and refuses the banned ones.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	usesClient := false
	for _, dep := range deps {
		if bad := bannedDep(dep); bad != "" {
			t.Errorf("the parley binary links %s (%s); it must reach the daemon through node/localclient only", dep, bad)
		}
		usesClient = usesClient || dep == module+"/node/localclient"
	}
	if !usesClient {
		t.Errorf("the parley binary does not link node/localclient (go list printed %d packages)", len(deps))
	}
}

// bannedDep says why dep may not be linked, or "" if it may.
func bannedDep(dep string) string {
	for _, b := range bannedDeps {
		if dep == strings.TrimSuffix(b, "/") || strings.HasPrefix(dep, strings.TrimSuffix(b, "/")+"/") {
			return "banned: " + b
		}
	}
	if dep == module+"/node" || strings.HasPrefix(dep, module+"/node/") {
		for _, a := range allowedNodeDeps {
			if dep == a {
				return ""
			}
		}
		return "only " + strings.Join(allowedNodeDeps, " and ") + " are allowed under node/"
	}
	return ""
}

// TestBannedDep checks the rule itself, so that a typo in the lists cannot
// make TestDeps pass vacuously.
func TestBannedDep(t *testing.T) {
	for dep, banned := range map[string]bool{
		"github.com/libp2p/go-libp2p/core/host":      true,
		"github.com/pion/ice/v4":                     true,
		"github.com/quic-go/quic-go":                 true,
		"go.etcd.io/bbolt":                           true,
		"go.etcd.io/bbolt/errors":                    true,
		module + "/node":                             true,
		module + "/node/localapi":                    true,
		module + "/node/records":                     true,
		module + "/store":                            true,
		module + "/storetest":                        false, // a prefix match must end at a path element
		module + "/bootstrap/turnsrv":                true,
		module + "/cmd/parley-demo/demo":             true,
		module + "/node/localclient":                 false,
		module + "/node/localapi/apitype":            false,
		module + "/cmd/internal/cliutil":             false,
		module + "/crypto":                           false,
		"github.com/alecthomas/kong":                 false,
		"golang.org/x/term":                          false,
		"github.com/libp2p-not-really/other-project": false,
	} {
		if got := bannedDep(dep) != ""; got != banned {
			t.Errorf("bannedDep(%s) = %q, want banned %v", dep, bannedDep(dep), banned)
		}
	}
}
