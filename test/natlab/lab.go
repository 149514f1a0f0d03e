package natlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/test/proc"
)

// InternetPrefix holds every address of the lab's internet: the
// bootstrap's, the routers' WAN sides and the public hosts. It must look
// public to libp2p as well as to the TURN peer filter: go-multiaddr counts
// 100.64.0.0/10 as private and the documentation and benchmarking ranges as
// unroutable, and with such addresses AutoNAT never runs, a NATed node never
// learns it is private and never takes a relay slot. The lab's namespaces
// have no link to the machine's own network, so nothing is ever sent to the
// real owners of this block.
var InternetPrefix = netip.MustParsePrefix("5.0.0.0/16")

// inetAddr is InternetPrefix's address x.y.c.d.
func inetAddr(c, d byte) netip.Addr {
	b := InternetPrefix.Addr().As4()
	b[2], b[3] = c, d
	return netip.AddrFrom4(b)
}

// Addresses of the server host.
var (
	// BootstrapAddr is the server host's address, where the bootstrap
	// server listens.
	BootstrapAddr = inetAddr(0, 1)
	// ProbeAddr is the server host's second address, for NAT mapping
	// probes.
	ProbeAddr = inetAddr(0, 2)
	// serverGateway is the internet namespace's side of the server link.
	serverGateway = inetAddr(0, 254)
	// Bootstrap2Addr is the address of the second server host (see
	// Options.SecondServer), where a second bootstrap listens.
	Bootstrap2Addr = inetAddr(200, 1)
	// server2Gateway is the internet namespace's side of its link.
	server2Gateway = inetAddr(200, 254)
)

// MaxSites bounds Options.Sites (site i uses the internet's x.y.i.0/24 for
// its uplink, and 10.200.i.0/24 or the internet's x.y.100+i.0/24 for its
// LAN).
const MaxSites = 99

// helperReadyTimeout bounds the wait for the delay line to bind its queues.
const helperReadyTimeout = 10 * time.Second

// stopGrace is how long Down waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// SiteConfig describes one site: a router namespace with kernel NAT and a
// host namespace behind it.
type SiteConfig struct {
	// Kind is the router's NAT kind. Defaults to None.
	Kind Kind
	// Delay is added to every packet the site sends into the internet (its
	// uplink's one-way delay, upstream). Between two sites with Delay d
	// each the round trip is 2d; between a site and the bootstrap it is d.
	// 0 means no delay line for this site.
	Delay time.Duration
	// Loss is the probability, in [0, 1), that a packet the site sends
	// into the internet is dropped (iptables statistic match).
	Loss float64
}

// Options configures a lab.
type Options struct {
	// Sites are the sites, numbered from 1. At least one.
	Sites []SiteConfig
	// Helper is the command line of a program that runs HelperMain with
	// the arguments appended (the natlab command itself, or a test binary
	// whose TestMain calls HelperMain). Required when a site has a Delay.
	Helper []string
	// HelperEnv is extra environment for the helper (e.g. the variable a
	// TestMain looks for).
	HelperEnv []string
	// Logf receives progress lines. Defaults to discarding them.
	Logf func(format string, args ...any)
	// SecondServer adds a second server host "<prefix>srv2" with one
	// address, Bootstrap2Addr, on a link of its own to the internet: room
	// for a second bootstrap (StartBootstrap2).
	SecondServer bool
}

// Site is a built site.
type Site struct {
	// Index is the site's number, from 1.
	Index int
	SiteConfig
	// Router and Host are the names of the site's namespaces.
	Router, Host string
	// HostAddr is the host's address: 10.200.i.2 behind NAT, x.y.100+i.2
	// in InternetPrefix for kind None.
	HostAddr netip.Addr
	// WANAddr is the router's internet-side address, x.y.i.2: the
	// public address of a NATed host.
	WANAddr netip.Addr
	// Uplink is the name of the site's interface in the internet
	// namespace.
	Uplink string
}

// Lab is a built topology. Down removes it.
type Lab struct {
	o      Options
	logf   func(string, ...any)
	prefix string
	inet   string
	server string
	srv2   string // "" without Options.SecondServer
	sites  []*Site

	procs *proc.Group // what the lab started; Down closes it

	mu         sync.Mutex // guards the following fields
	namespaces []string   // created by this lab, in creation order
	down       bool
	ifaces     map[string][]string // a moved host's interfaces, by namespace (see MoveHost)
}

var (
	labSeq  atomic.Uint64
	liveMu  sync.Mutex
	liveSet = map[*Lab]struct{}{}
)

// DownAll tears down every lab of this process that is still up (for
// signal handlers) and returns the errors.
func DownAll() error {
	liveMu.Lock()
	labs := make([]*Lab, 0, len(liveSet))
	for l := range liveSet {
		labs = append(labs, l)
	}
	liveMu.Unlock()
	var errs []error
	for _, l := range labs {
		errs = append(errs, l.Down())
	}
	return errors.Join(errs...)
}

// Up builds the topology. Namespace names start with a prefix unique to
// this process and lab ("plab<pid>-<n>-"). On error, whatever was built is
// torn down again. The caller must call Down (also when the test fails).
func Up(ctx context.Context, o Options) (*Lab, error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	l := &Lab{o: o, logf: o.Logf}
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	l.procs = &proc.Group{Grace: stopGrace, Logf: func(format string, args ...any) { l.logf("natlab: "+format, args...) }}
	l.prefix = fmt.Sprintf("plab%d-%d-", os.Getpid(), labSeq.Add(1))
	l.inet = l.prefix + "inet"
	l.server = l.prefix + "srv"
	if o.SecondServer {
		l.srv2 = l.prefix + "srv2"
	}
	for i, sc := range o.Sites {
		n := i + 1
		s := &Site{
			Index: n, SiteConfig: sc,
			Router: fmt.Sprintf("%sr%d", l.prefix, n), Host: fmt.Sprintf("%sh%d", l.prefix, n),
			WANAddr: inetAddr(byte(n), 2),
			Uplink:  fmt.Sprintf("s%d", n),
		}
		s.HostAddr = netip.AddrFrom4([4]byte{10, 200, byte(n), 2})
		if sc.Kind == None {
			s.HostAddr = inetAddr(byte(100+n), 2)
		}
		l.sites = append(l.sites, s)
	}
	liveMu.Lock()
	liveSet[l] = struct{}{}
	liveMu.Unlock()
	start := time.Now()
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(err, l.Down())
	}
	l.logf("natlab: lab %s up in %v (%s)", strings.TrimSuffix(l.prefix, "-"), time.Since(start).Round(time.Millisecond), l.describe())
	return l, nil
}

func (o *Options) validate() error {
	if len(o.Sites) == 0 || len(o.Sites) > MaxSites {
		return fmt.Errorf("%w: %d sites (want 1 to %d)", ErrBadOptions, len(o.Sites), MaxSites)
	}
	for i, s := range o.Sites {
		if s.Kind < None || s.Kind > TCP443 {
			return fmt.Errorf("%w: site %d: %v", ErrBadKind, i+1, s.Kind)
		}
		if s.Delay < 0 || !(s.Loss >= 0 && s.Loss < 1) {
			return fmt.Errorf("%w: site %d: delay %v, loss %v", ErrBadOptions, i+1, s.Delay, s.Loss)
		}
		if s.Delay > 0 && len(o.Helper) == 0 {
			return fmt.Errorf("%w: site %d has a delay but Options.Helper is empty", ErrBadOptions, i+1)
		}
	}
	return nil
}

func (l *Lab) describe() string {
	var parts []string
	for _, s := range l.sites {
		d := s.Kind.String()
		if s.Delay > 0 {
			d += fmt.Sprintf(" +%v", s.Delay)
		}
		if s.Loss > 0 {
			d += fmt.Sprintf(" %.1f%% loss", 100*s.Loss)
		}
		parts = append(parts, fmt.Sprintf("site %d: %s", s.Index, d))
	}
	return strings.Join(parts, ", ")
}

// build creates namespaces, links, addresses, routes, NAT rules and the
// delay line.
func (l *Lab) build(ctx context.Context) error {
	all := []string{l.inet, l.server}
	if l.srv2 != "" {
		all = append(all, l.srv2)
	}
	for _, s := range l.sites {
		all = append(all, s.Router, s.Host)
	}
	for _, ns := range all {
		if err := l.addNamespace(ctx, ns); err != nil {
			return err
		}
	}
	var links strings.Builder
	fmt.Fprintf(&links, "link add srv netns %s type veth peer name eth0 netns %s\n", l.inet, l.server)
	if l.srv2 != "" {
		fmt.Fprintf(&links, "link add srv2 netns %s type veth peer name eth0 netns %s\n", l.inet, l.srv2)
	}
	for _, s := range l.sites {
		fmt.Fprintf(&links, "link add %s netns %s type veth peer name wan netns %s\n", s.Uplink, l.inet, s.Router)
		fmt.Fprintf(&links, "link add lan netns %s type veth peer name eth0 netns %s\n", s.Router, s.Host)
	}
	if _, err := run(ctx, links.String(), "ip", "-batch", "-"); err != nil {
		return err
	}
	if err := l.configureInternet(ctx); err != nil {
		return err
	}
	for _, s := range l.sites {
		if err := l.configureSite(ctx, s); err != nil {
			return err
		}
	}
	return l.configureImpairments(ctx)
}

// addNamespace creates one namespace and records it only if this call
// created it, with IPv6 off (the lab is IPv4) and reverse-path filtering
// off.
func (l *Lab) addNamespace(ctx context.Context, ns string) error {
	if _, err := run(ctx, "", "ip", "netns", "add", ns); err != nil {
		return err
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, ns)
	l.mu.Unlock()
	return sysctls(ns, "ipv6.conf.all.disable_ipv6", "1", "ipv6.conf.default.disable_ipv6", "1",
		"ipv4.conf.all.rp_filter", "0", "ipv4.conf.default.rp_filter", "0")
}

// uplinkGateway is the internet namespace's address on the site's uplink
// (x.y.i.1).
func (s *Site) uplinkGateway() netip.Addr { return inetAddr(byte(s.Index), 1) }

// lanGateway is the router's address on the site's LAN (x.y.z.1).
func (s *Site) lanGateway() netip.Addr {
	b := s.HostAddr.As4()
	b[3] = 1
	return netip.AddrFrom4(b)
}

func (l *Lab) configureInternet(ctx context.Context) error {
	// The server host has one interface: a multihomed host would pick a
	// source address per route, and the bootstrap's TURN relay, whose
	// sockets bind the wildcard address, would then answer from an address
	// other than the relayed one it advertised.
	srv := fmt.Sprintf("link set lo up\naddr add %s/24 dev eth0\naddr add %s/24 dev eth0\nlink set eth0 up\nroute add default via %s\n",
		BootstrapAddr, ProbeAddr, serverGateway)
	if _, err := run(ctx, srv, "ip", "-n", l.server, "-batch", "-"); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "link set lo up\naddr add %s/24 dev srv\nlink set srv up\n", serverGateway)
	if l.srv2 != "" {
		srv2 := fmt.Sprintf("link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\nroute add default via %s\n", Bootstrap2Addr, server2Gateway)
		if _, err := run(ctx, srv2, "ip", "-n", l.srv2, "-batch", "-"); err != nil {
			return err
		}
		fmt.Fprintf(&b, "addr add %s/24 dev srv2\nlink set srv2 up\n", server2Gateway)
	}
	for _, s := range l.sites {
		fmt.Fprintf(&b, "addr add %s/24 dev %s\nlink set %s up\n", s.uplinkGateway(), s.Uplink, s.Uplink)
		if s.Kind == None {
			fmt.Fprintf(&b, "route add %s via %s\n", netip.PrefixFrom(s.HostAddr, 24).Masked(), s.WANAddr)
		}
	}
	if _, err := run(ctx, b.String(), "ip", "-n", l.inet, "-batch", "-"); err != nil {
		return err
	}
	return sysctls(l.inet, "ipv4.ip_forward", "1")
}

func (l *Lab) configureSite(ctx context.Context, s *Site) error {
	gw := s.lanGateway()
	r := fmt.Sprintf("link set lo up\naddr add %s/24 dev wan\nlink set wan up\naddr add %s/24 dev lan\nlink set lan up\nroute add default via %s\n",
		s.WANAddr, gw, s.uplinkGateway())
	if _, err := run(ctx, r, "ip", "-n", s.Router, "-batch", "-"); err != nil {
		return err
	}
	h := fmt.Sprintf("link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\nroute add default via %s\n", s.HostAddr, gw)
	if _, err := run(ctx, h, "ip", "-n", s.Host, "-batch", "-"); err != nil {
		return err
	}
	if err := sysctls(s.Router, "ipv4.ip_forward", "1"); err != nil {
		return err
	}
	if rules := routerRules(s.Kind); rules != "" {
		if _, err := run(ctx, rules, "ip", "netns", "exec", s.Router, "iptables-restore"); err != nil {
			return err
		}
	}
	return nil
}

// routerRules is the iptables-restore input for a router of kind k ("" for
// None: a plain router).
//
// Every NAT kind drops unsolicited inbound packets on the WAN side instead
// of answering them: otherwise an early probe from the peer creates a
// conntrack entry that makes the kernel give the host's later outgoing flow
// a different public port, and cone↔cone hole punching fails.
func routerRules(k Kind) string {
	if k == None {
		return ""
	}
	masq := "-A POSTROUTING -o wan -j MASQUERADE"
	if k == Symmetric {
		masq += " --random-fully"
	}
	udp := ""
	out := "-A FORWARD -i lan -o wan -j ACCEPT\n"
	switch k {
	case UDPBlocked:
		udp = "-A FORWARD -p udp -j DROP\n"
	case TCP443:
		out = "-A FORWARD -i lan -o wan -p tcp --dport 443 -j ACCEPT\n"
	}
	return "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" +
		masq + "\nCOMMIT\n" +
		"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -i wan -m conntrack --ctstate NEW -j DROP\n" + udp +
		"-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n" +
		out + "COMMIT\n"
}

// configureImpairments starts the delay line (if any site has a delay) and
// then installs the loss and queue rules in the internet namespace, so no
// packet is queued before a reader is bound.
func (l *Lab) configureImpairments(ctx context.Context) error {
	var queues []string
	var rules strings.Builder
	rules.WriteString("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	for _, s := range l.sites {
		if s.Loss > 0 {
			fmt.Fprintf(&rules, "-A PREROUTING -i %s -m statistic --mode random --probability %.6f -j DROP\n", s.Uplink, s.Loss)
		}
		if s.Delay > 0 {
			fmt.Fprintf(&rules, "-A PREROUTING -i %s -j NFQUEUE --queue-num %d\n", s.Uplink, s.Index)
			queues = append(queues, "--queue", fmt.Sprintf("%d=%v", s.Index, s.Delay))
		}
	}
	rules.WriteString("COMMIT\n")
	if len(queues) > 0 {
		args := append(slices.Clone(l.o.Helper[1:]), "delayline")
		args = append(args, queues...)
		p, err := l.Start(l.inet, "delayline", l.o.HelperEnv, l.o.Helper[0], args...)
		if err != nil {
			return err
		}
		if err := p.WaitOutput(ctx, DelayLineReady, helperReadyTimeout); err != nil {
			return err
		}
	}
	_, err := run(ctx, rules.String(), "ip", "netns", "exec", l.inet, "iptables-restore")
	return err
}

// Start runs bin with args inside namespace ns and records it; Down stops
// it.
func (l *Lab) Start(ns, name string, env []string, bin string, args ...string) (*proc.Proc, error) {
	if l.isDown() {
		return nil, ErrDown
	}
	p, err := l.procs.Start(proc.Spec{Name: name, Path: bin, Args: args, Env: env, Wrap: netnsExec(ns)})
	if err != nil {
		return nil, fmt.Errorf("natlab: in %s: %w", ns, err)
	}
	return p, nil
}

// Exec runs a command to completion inside namespace ns and returns its
// combined output.
func (l *Lab) Exec(ctx context.Context, ns string, name string, args ...string) ([]byte, error) {
	if l.isDown() {
		return nil, ErrDown
	}
	return run(ctx, "", "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Do runs fn on a thread inside namespace ns: sockets fn opens belong to
// that namespace (see the package doc).
func (l *Lab) Do(ns string, fn func() error) error {
	if l.isDown() {
		return ErrDown
	}
	return inNetns(ns, fn)
}

func (l *Lab) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// Internet is the name of the internet namespace: the router between the
// sites' uplinks and the server host, where the delay line runs.
func (l *Lab) Internet() string { return l.inet }

// Server is the name of the server host's namespace: BootstrapAddr and
// ProbeAddr on its one interface, where the bootstrap runs.
func (l *Lab) Server() string { return l.server }

// Server2 is the name of the second server host's namespace
// (Options.SecondServer; "" without): Bootstrap2Addr on its one
// interface.
func (l *Lab) Server2() string { return l.srv2 }

// Prefix is the prefix of every namespace name of this lab.
func (l *Lab) Prefix() string { return l.prefix }

// Sites returns the sites, in order (site i+1 at index i).
func (l *Lab) Sites() []*Site { return l.sites }

// Namespaces lists the namespaces this lab created.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.namespaces)
}

// Procs lists the processes this lab started.
func (l *Lab) Procs() []*proc.Proc { return l.procs.Procs() }

// Down stops the processes the lab started (newest first: SIGTERM, SIGKILL
// after 5 s) and deletes the namespaces it created, and nothing else. It
// is safe to call more than once and from a signal handler's goroutine.
func (l *Lab) Down() error {
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return nil
	}
	l.down = true
	namespaces := l.namespaces
	l.mu.Unlock()

	var errs []error
	if err := l.procs.Close(); err != nil {
		errs = append(errs, fmt.Errorf("natlab: %w", err))
	}
	// Cleanup must run even when the caller's context is done.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(namespaces) - 1; i >= 0; i-- {
		if _, err := run(ctx, "", "ip", "netns", "delete", namespaces[i]); err != nil && nsExists(namespaces[i]) {
			errs = append(errs, err)
		}
	}
	liveMu.Lock()
	delete(liveSet, l)
	liveMu.Unlock()
	l.logf("natlab: lab %s down", strings.TrimSuffix(l.prefix, "-"))
	return errors.Join(errs...)
}
