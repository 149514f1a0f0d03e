// Package media provides the sources and sinks of RTP packets that Parley
// sends and receives in a call.
//
// Parley's daemon is a media transport, not a codec: it moves RTP packets of
// media it never decodes. The only exception is G.711 µ-law (PCMU), which
// this package encodes to make a test tone and decodes to verify that the
// tone arrived (EncodeULaw, DecodeULaw, Goertzel, Counter.DetectTone). Opus,
// VP8, VP9 and AV1 are read from and written to containers, split into and
// reassembled from RTP payloads with pion's payloaders and depacketizers,
// and otherwise left as opaque bytes. Encrypting (SRTP), ICE and RTCP are
// done elsewhere; this package neither sees keys nor sends on the network
// beyond loopback.
//
// # Sources
//
// A Source produces the packets of one outgoing stream:
//
//   - NewTone: a PCMU sine, 8 kHz, 160 samples (20 ms) per packet, -6 dBFS.
//   - OpenOgg: an Ogg/Opus file, one Opus packet per RTP packet, with RTP
//     timestamps (48 kHz) derived from the pages' granule positions and the
//     packets' durations (read from the Opus TOC byte, RFC 6716 §3.1).
//   - OpenIVF: an IVF file of VP8, VP9 or AV1 (by fourcc); each frame is
//     split into payloads of at most MaxPayloadSize bytes, all stamped with
//     the frame's time (90 kHz) and the marker bit on the frame's last.
//   - ListenRTP: RTP arriving on a loopback UDP port, so ffmpeg
//     (-f rtp rtp://127.0.0.1:PORT) or GStreamer (udpsink) can feed a call.
//     Datagrams longer than MaxPacketSize or not valid RTP are dropped and
//     counted, and so are datagrams from any address but the first
//     sender's (or UDPOptions.From) and packets late or duplicated. The
//     source numbers packets itself, one after the other, so a sequence
//     number (and the SRTP nonce built from it) is never passed on twice.
//
// ParseSource builds one from a spec string such as "tone:1000",
// "rtp://127.0.0.1:5004?codec=opus&from=127.0.0.1:5006" or "loop:clip.ivf".
//
// Every source starts its sequence numbers and timestamps at random values
// (RFC 3550 §5.1) and leaves the SSRC to the caller.
//
// # Pacing
//
// ReadRTP blocks until the next packet is due, so a caller can simply loop
// ReadRTP → send. A tone is due every 20 ms; a file at its own timestamps
// (all packets of a video frame at once); a UDP source whenever a datagram
// arrives. Schedules are absolute, so a late caller catches up, but a source
// more than 500 ms behind restarts its clock instead of bursting, and a
// timestamp jump of more than 5 s in a file is not waited out. ToneOptions
// and FileOptions have NoPacing for benchmarks and tests.
//
// # Sinks
//
// A Sink consumes the packets of one received stream:
//
//   - Counter: counts packets, bytes, losses, duplicates and reordering,
//     and for PCMU keeps the last seconds of audio for DetectTone.
//   - NewOggSink: Opus into an Ogg file (pion oggwriter).
//   - NewIVFSink: VP8/VP9/AV1 packets reordered, reassembled into frames
//     with pion's depacketizers, and written to an IVF file; a frame that
//     lost a packet is dropped.
//
// Recording files are new files, mode 0600 (directories made for them
// 0700): an existing file or symbolic link of the name is refused
// (ErrExists), and in a directory the next free name is used. They are
// written in place, so a daemon killed mid-call leaves a playable
// recording of what it received.
//   - NewUDPSink: packets forwarded as they are to a loopback UDP port, for
//     ffplay or GStreamer.
//
// ParseSink builds one from a spec string; Tee fans a stream out to several.
//
// # Trust
//
// Packets reaching a sink come from the far end of a call, and packets on a
// local UDP port from any local process: everything that parses them is
// bounded and fuzzed. Local addresses must be loopback unless UDPOptions
// allow otherwise, since the media there is in clear.
package media
