// Package crash kills the real parleyd with SIGKILL at random moments
// while it adds, accepts and removes contacts, links and revokes devices
// and changes settings, and checks after each restart that the daemon
// starts, that every operation its API acknowledged is there, and that
// nothing is half-done: a contact change whose message was queued reaches
// the other account, a linked device the new device took is one of the
// account's devices. The kill moments come from a seeded random source
// whose seed the test prints (PARLEY_CRASH_SEED replays a run).
package crash
