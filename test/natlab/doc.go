// Package natlab is Parley's NAT lab: real kernel NAT between real Parley
// processes, built from Linux network namespaces. It needs root, iproute2
// and iptables (CI installs them; the tests skip with a message without
// them).
//
// # Topology
//
//	server host "<prefix>srv": eth0 5.0.0.1 (bootstrap) and 5.0.0.2 (probes)
//	  │
//	internet "<prefix>inet": srv 5.0.0.254, ip_forward, delay line, loss rules
//	  ├── s1 5.0.1.1/24 ── wan 5.0.1.2/24  router "<prefix>r1" (NAT of site 1)
//	  │                    lan 10.200.1.1/24
//	  │                      └── eth0 10.200.1.2/24  host "<prefix>h1"
//	  └── sN 5.0.N.1/24 ── wan 5.0.N.2/24  router "<prefix>rN" …
//
// A site of kind None gets a public LAN instead (5.0.100+N.0/24, routed
// by the internet namespace), so its host's own address is public. The
// internet's block is InternetPrefix; it must look public to libp2p (which
// counts 100.64.0.0/10 as private and the documentation ranges as
// unroutable) for AutoNAT to work as on the real internet. IPv6 is off in
// every namespace.
//
// # NAT kinds
//
// Routers are configured with iptables-restore:
//
//   - None: a plain router, no NAT, no filter.
//   - Cone: -t nat POSTROUTING -o wan -j MASQUERADE; FORWARD policy DROP
//     except ESTABLISHED,RELATED and LAN→WAN. Linux keeps the source port
//     when it can, so the mapping is endpoint-independent; the filter is
//     port-restricted (conntrack).
//   - Symmetric: the same with MASQUERADE --random-fully: a new public
//     port per destination.
//   - UDPBlocked: Cone plus FORWARD -p udp -j DROP: only TCP leaves.
//   - TCP443: Cone whose LAN→WAN rule is -p tcp --dport 443: nothing
//     leaves but TCP to port 443 (no UDP, no DNS, no TCP to other ports).
//     The lab's bootstrap listens libp2p on TCP 443 too, and a daemon there
//     reaches TURN over a libp2p stream (internal/turnstream).
//
// Every NAT router also drops unsolicited packets to its WAN address
// (INPUT -i wan -m conntrack --ctstate NEW -j DROP) instead of answering
// them: otherwise an early probe from a peer leaves a conntrack entry that
// makes the kernel give the host's later outgoing flow a different public
// port, and cone↔cone hole punching fails. TestNATKinds checks each kind
// against this description with UDP probes.
//
// # Delay and loss
//
// The kernel has no netem here. A site's Delay is added by a delay line:
// an iptables NFQUEUE rule in the internet namespace (mangle PREROUTING,
// -i sN) hands each packet the site sends into the internet to a
// user-space program that holds it for the delay and lets it go, in
// order. The program is this package's HelperMain, which the lab runs by
// re-executing Options.Helper inside the internet namespace: the natlab
// command (`natlab delayline --queue N=DELAY`) or the test binary. It
// speaks the nfnetlink_queue protocol over raw netlink
// (golang.org/x/sys/unix) in meta-data mode, so packets never leave the
// kernel. Loss is an iptables statistic match in front of the queue. Both
// apply to what a site sends, so between two sites with delay d the round
// trip is 2d, and between a site and the bootstrap d.
//
// # Processes and teardown
//
// Lab.Start runs a program inside a namespace with `ip netns exec`, which
// execs it, so the recorded PID is the program's own; children get
// PR_SET_PDEATHSIG and a process group of their own. Lab.Down stops the
// processes the lab started (SIGTERM, then SIGKILL after 5 s) and deletes
// the namespaces it created — only those: names carry the per-lab prefix
// "plab<pid>-<n>-", and a namespace is recorded only after this lab's
// `ip netns add` created it. Tests call Down from t.Cleanup; the test
// binary's TestMain and the natlab command call DownAll on SIGINT and
// SIGTERM. CleanupStale removes the namespaces of labs whose process was
// killed outright.
//
// Lab.Do runs a function on a thread that has joined a namespace: sockets
// opened there belong to that namespace for good (the tests' probes, and
// StartCapture's packet socket).
//
// # Parley in the lab
//
// Build compiles parleyd, parley and parley-bootstrap with the build tag
// "parleylab", which adds one thing: an SRTP key log (KeyLogEnv), so
// TestServersSeeNoSecrets knows which bytes must never cross the
// bootstrap. StartSession runs parley-bootstrap in the server namespace
// and a parleyd per site, waits until the NATed daemons hold a circuit
// relay reservation, makes callers and callees contacts and turns on
// auto-answer; Session.Call runs `parley call` and measures the time to
// first decrypted media at each end, the path and the loss. The parley
// CLI runs in the lab's own namespace: the daemons' API is a unix socket
// in their data directory, a file every namespace can reach.
//
// RunMatrix and WriteReport are the report: every ordered pair of kinds at
// one delay, as Markdown tables (docs/connectivity.md).
//
// # Network change, relay failover, long calls
//
// Lab.MoveHost moves a host namespace from one site's LAN to another's
// mid-call: its interfaces go down and one on the other LAN comes up with
// that site's host address (the first move onto a site takes that site's
// LAN link, so the site runs nothing of its own). StartPair runs one
// caller and one callee; Session.RunMoves places a call and makes the
// moves one at a time, reading after each the longest silence each end
// heard (the "gaps_ms" of its receive stream). With Options.SecondServer
// the lab has a second server host (Bootstrap2Addr) and StartPair a
// second bootstrap; Session.RunFailover kills the bootstrap whose TURN
// server relays a call and measures the gap until media flows through the
// other one. Session.RunLongCalls keeps calls up for a long time and
// reads the daemons' RSS at the start and the end (`natlab longcall`).
package natlab
