// Package node is a Parley device: one device of one account. It manages the
// account on a data directory (init, restore, export) and, as the daemon,
// runs the libp2p host, DHT presence, contacts and calls behind the local
// control API (package localapi).
//
// Binaries stay thin: cmd/parleyd parses flags and calls into this package.
package node
