// Package calltransport is the media path of a Parley call: one pion/ice/v4
// agent per call leg, and an SRTP session (pion/srtp/v3) on the candidate
// pair it selects, keyed with keys agreed end to end elsewhere.
//
// There is no signalling here. The caller sends [Leg.LocalCredentials] and
// every candidate string [Leg.OnCandidate] produces to the peer over its own
// signed channel, and feeds the peer's into [Leg.Start] and
// [Leg.AddRemoteCandidate]:
//
//	leg, _ := calltransport.NewLeg(calltransport.Config{Controlling: caller, Servers: servers})
//	leg.OnCandidate(func(c string) { signal.SendCandidate(c) })
//	ufrag, pwd := leg.LocalCredentials() // → peer
//	leg.Start(ctx, peerUfrag, peerPwd)   // returns at once
//	// for each candidate from the peer: leg.AddRemoteCandidate(c)
//	leg.WaitConnected(ctx)
//	media, _ := leg.StartMedia(keys, 0) // AEAD_AES_128_GCM
//	media.WriteRTP(pkt); pkt, _ = media.ReadRTP()
//	leg.Close()
//
// # Timers
//
// Parley's NAT lab measured two plain pion/ice v4.4.9 agents with TURN:
// "With pion's defaults the times cluster at ~0.01–0.25 s, ~1.0–1.3 s and
// ~2.0–2.3 s. They measure pion's nomination waits (500 ms srflx, 1000 ms
// prflx, 2000 ms relay) and its 200 ms check interval, not the network."
// And: "With all acceptance waits at 0 and a 20 ms check interval: ≤ 27 ms
// in every cell without delay; 211–307 ms with 25 ms one-way delay on each
// site uplink (A↔B RTT 50 ms) — but pion then sometimes settles on a TURN
// pair while a direct one exists." The defaults follow from that:
//
//   - CheckInterval 20 ms (pion: 200 ms). Checks are a few hundred bytes and
//     stop once a pair is selected.
//   - Host, srflx and prflx acceptance waits 0 (pion: 0, 500 ms, 1 s): the
//     controlling side nominates a working direct pair at once.
//   - Relay acceptance wait 250 ms (pion: 2 s), 0 with RelayOnly: about five
//     round trips at the lab's 50 ms RTT, long enough for a hole punch to
//     beat a relay pair that answered first, and a cost only paths that
//     need TURN anyway pay.
//   - MaxBindingRequests 50 (pion: 7). pion marks a pair failed after that
//     many checks and never checks it again; at 20 ms, 7 checks give up
//     after 140 ms, before a hole punch across a 50 ms RTT has had a fair
//     chance. 50 checks are one second.
//   - Renomination on (pion: off), RenominationInterval 1 s, keepalive 2 s
//     (pion's). See below.
//   - DisconnectedTimeout 5 s (pion's), FailedTimeout 10 s (pion: 25 s).
//     Their sum also bounds setup: a leg that found no pair in 15 s fails.
//     The context given to [Leg.Start] can end setup earlier.
//
// # Relay first, direct later
//
// Read from pion v4.4.9 and checked by TestRelayThenDirect: with plain ICE
// nomination pion keeps the first selected pair for the whole call. Once a
// pair is selected the controlling agent stops checking the others and only
// keeps the selected pair alive, and the controlled agent ignores a second
// standard nomination of a pair with no higher priority. So a call that
// connected through TURN before a direct pair worked would stay on TURN.
//
// This package therefore enables pion's renomination
// (draft-thatcher-ice-renomination) on both sides, so that the controlled
// side follows "last nomination wins". It does not use pion's automatic
// renomination: that checks every pair that has not failed on each
// keepalive tick for the whole call, which measured 116 datagrams a second
// besides media in a settled direct call between two hosts with two
// interfaces, and 28 a second between the caller and TURN although the
// call was direct (docs/performance.md, keepalive).
// Instead, while the selected pair has a relay end, the controlling side
// sends a renomination request on the direct pairs that have not failed
// (host↔host ones alone first, at most 8 a round), RenominationInterval
// after connecting and then at doubling intervals up to 16 times that; the
// first direct pair that answers carries the call (renominate.go). Once the
// selected pair is direct nothing is probed: each side sends a consent
// check (RFC 7675) on the selected pair every keepalive interval, four
// datagrams per 2 s with the answers, and the TURN allocation idles (its
// refreshes only). Measured on loopback with the defaults: the call moves
// from the relay to the direct pair about 2 s after the direct candidates
// arrive; with renomination off (RenominationInterval < 0) it stays on the
// relay. A direct pair is no longer swapped for another direct one with a
// lower RTT. Pairs that failed before (all MaxBindingRequests checks
// unanswered) are not retried; a direct path that opens much later needs
// new candidates.
//
// Other choices: mDNS is off (no multicast queries, and ".local" candidates
// are refused); candidates are UDP only, since Parley runs no ICE-TCP
// listener, and a UDP-blocked site reaches TURN over TCP
// ("turn:host:port?transport=tcp") and still gets a UDP relayed address.
//
// # Candidates
//
// Candidate strings from the peer are untrusted. [Leg.AddRemoteCandidate]
// bounds their length ([MaxCandidateLen]) and number ([MaxRemoteCandidates]),
// and refuses components other than 1, TCP, names instead of IP addresses,
// and unspecified or multicast addresses.
//
// # Demultiplexing
//
// RTP and RTCP share the one ICE component (RFC 5761 rtcp-mux); pion takes
// STUN off the connection first, and hands up only datagrams from a known
// remote candidate. Each remaining datagram is sorted by its first byte
// (RFC 7983): 128–191 is RTP or RTCP version 2, anything else is garbage.
// Among those, a second byte of 192–223 (marker bit plus payload type 64–95)
// is RTCP, anything else RTP (RFC 5761 section 4); [Media.WriteRTP] refuses
// payload types 64–95 for that reason.
//
// # SRTP
//
// AEAD_AES_128_GCM (RFC 7714) by default; AEAD_AES_256_GCM and the
// AES-CM-HMAC-SHA1-80 profiles can be chosen, the NULL and 32-bit-tag
// profiles cannot. Each direction has its own master key and salt
// ([Keys]); equal keys are refused. SRTCP is encrypted. Replay protection
// is on with a 1024-packet window for SRTP and 128 for SRTCP. A leg carries
// one SRTP session: restarting one with the same keys would reuse nonces.
//
// The SRTP index (rollover counter and sequence number) is the nonce, so
// [Media.WriteRTP] decides it itself, per SSRC, and refuses with
// [ErrStaleIndex] any packet whose index would not be above the last one
// sent on its SSRC: a repeated or older sequence number, from a restarted
// or misbehaving source, is dropped and counted (Stats.SendRefused)
// instead of being encrypted under a nonce already used. The rollover
// counter follows RFC 3711 Appendix A, as the receiver's estimate does,
// and is pinned in pion/srtp before each packet rather than left to its
// guess. Every sender (tone, files, RTP from a local port, each leg of a
// conference) goes through WriteRTP.
//
// # What is counted
//
// Every datagram that reaches the media adds one to exactly one counter of
// [Stats]: PacketsReceived or RTCPReceived, or one of [DropStats]:
// Garbage (not RTP/RTCP v2), Truncated (shorter than the RTP header with its
// CSRCs and extension plus the tag, or than the smallest SRTCP packet),
// AuthFailed (tag does not verify: another key, a reflected packet of our
// own direction, tampering, random bytes that look like RTP), Replayed (seen
// before or older than the window; the replay check runs before
// authentication, as in pion/srtp), Malformed (authentic but unparsable),
// or RTPQueueFull/RTCPQueueFull (a reader too far behind: the read loop
// never blocks on a reader). Datagrams pion drops before they reach the
// media (from addresses that are not remote candidates) are not counted
// here.
//
// RTCP: the media sends a compound report every ReportInterval (1 s,
// randomized ±50%) and on [Media.SendReport]: a sender report per SSRC it
// sends on, with reception report blocks (RFC 3550: cumulative and interval
// loss, interarrival jitter, LSR/DLSR) for up to 31 remote SSRCs, or a
// receiver report from a random SSRC when it sends nothing. No SDES
// (reduced-size RTCP, RFC 5506). From the peer's reports it learns the RTT
// (now − LSR − DLSR; only a side that sends RTP gets one) and the peer's
// view of loss and jitter. Jitter needs the payload's clock rate:
// PCMU and PCMA are known, others come from Config.ClockRates. Stats also
// record when the first packet was sent and decrypted, from which the tests
// measure setup time (Start on both legs to first decrypted packet).
//
// # Logs and secrets
//
// ICE and TURN passwords are never logged: pion logs the remote ICE
// password at Debug, so every pion message is scrubbed of the leg's
// secrets. [Keys] print as "[redacted]". pion's chatty levels are shifted
// down (Info and Warn to Debug); the leg itself logs state changes and the
// selected path at Info.
package calltransport
