// Package dhtstore is the bounded value store behind the Parley DHT on
// bootstrap servers and on nodes in DHT server mode.
//
// kad-dht keeps every PUT_VALUE record it accepts in its datastore, and the
// only bound on what it accepts is the record validator: any valid, signed
// Parley record is kept, and anyone can make as many accounts and devices
// (and so records) as they like. A Store is that datastore, with caps:
//
//   - per sending peer, a number of records and of bytes;
//   - per sending IP address (IPv4 address, IPv6 /64), a number of records
//     and of bytes, so that one machine cannot escape the per-peer cap by
//     making peer IDs;
//   - in total, a number of records and of bytes.
//
// A record over its sender's or its address's cap evicts that sender's (or
// that address's) oldest record. A record over the total evicts, first, the
// oldest record of an account with no live presence, and only then the
// oldest record of all. An account has live presence when its account record
// is stored here and lists a device whose presence record is stored here
// too: that account record and those presence records are "live"; every
// other record (an account record whose devices published no presence, a
// presence record whose account record is not here or does not list the
// device) is "dead" and goes first. Blinded records (records.BlindAccountNamespace,
// records.BlindPresenceNamespace) do not say whose they are, so they are
// always dead. Records whose own expiry has passed are
// swept out once a minute. Every drop is counted in Metrics.
//
// The datastore does not see who sent a record, so the Store also gives
// kad-dht an OnRequestHook (see Options) that notes, for each incoming
// PUT_VALUE, its key, a hash of its value and the sender. Put matches the
// record it is given against those notes; a record with no note (the node's
// own records, and records the node's own lookups store) is charged to the
// "local" sender, which has the per-peer caps too. The notes are bounded
// (maxPending, oldest dropped) and forgotten after pendingTTL.
//
// Records are kept in memory only: nodes re-publish theirs, so a restarted
// server refills within a republish period.
package dhtstore
