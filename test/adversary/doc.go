// Package adversary plays an attacker on the network against Parley's
// servers and asserts their defences (issue 14). Its library part is the
// attacker's kit, which the hostile part of the bench (test/bench hostile)
// floods with too:
//
//   - identities: accounts and devices made on the spot, as anyone can;
//   - PutValue sends a DHT PUT_VALUE request straight to a server, as a
//     DHT client that ignores every rule would;
//   - JunkPresence makes a valid presence record of a throwaway device;
//   - Allocate makes a TURN allocation with given credentials;
//   - Scrape reads a bootstrap's Prometheus metrics;
//   - ContactMessage, Offer and SyncRequest are a device's messages built
//     from the wire format (docs/protocol.md), sent with SendContact,
//     SendOffer and SendSync straight to the device under attack.
//
// The tests run the real parley-bootstrap binary where the process is the
// point (its flags, defaults and memory), and in-process servers where the
// protocol is. Each test names the finding of issue 14 it covers.
//
// PARLEY_ADVERSARY_BOOTSTRAP, when set, is the parley-bootstrap binary the
// tests attack instead of one built from this tree: set it to an older
// build to see which attacks it fails to stop; PARLEY_ADVERSARY_BINDIR
// does the same for the parleyd and parley binaries of the node tests
// (node_*_test.go).
package adversary
