// Package bootstrap is the Parley bootstrap server as a library: the entry
// point to the Parley DHT and its rendezvous store, a libp2p circuit relay,
// STUN/TURN, and the TURN credential protocol. cmd/parley-bootstrap is a thin
// wrapper around New and Server.Run; tests and parley-demo embed it.
//
// A Server runs one go-libp2p host (TCP and QUIC, Noise and TLS, identify)
// with:
//
//   - kad-dht in server mode under the private "/parley" protocol prefix with
//     the validators of package internal/records, so it stores and serves only
//     valid, signed Parley account and presence records (kept in memory:
//     nodes re-publish them), within the caps of package internal/dhtstore
//     per sending peer, per sending address and in total (see DHTLimits);
//   - the AutoNAT service, so nodes can learn whether they are reachable;
//   - the circuit relay v2 service with limits sized for signalling (see
//     RelayLimits), including a share per IPv4 /24 or IPv6 /48 that
//     go-libp2p lacks: calls' media goes over ICE and TURN, never the
//     circuit;
//   - the TURN credential issuer (package bootstrap/turncred; the protocol
//     is package internal/turncred), which checks each device against its
//     account's record in this DHT, and, unless disabled, a STUN/TURN server
//     on UDP and TCP with allocation quotas (package bootstrap/turnsrv);
//   - optional Prometheus metrics and a health check over HTTP.
//
// Bootstrap servers peer with each other (Config.Peers): each keeps
// redialling the others that are not connected, with a backoff of at most
// 30 seconds, so a bootstrap that comes back rejoins the DHT.
//
// The libp2p identity is kept in DataDir/bootstrap.key, so the peer ID, and
// the multiaddrs operators hand to nodes, survive restarts. The TURN secret
// is shared by every bootstrap (and any coturn) that issues or checks TURN
// credentials; when none is configured one is generated in
// DataDir/turn.secret.
package bootstrap
