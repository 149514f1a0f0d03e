package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// MoveHost moves the host of site host onto the LAN of site to, as a
// laptop moves from one network to another mid-call: every interface of
// the host goes down, and its interface on to's LAN comes up with to's
// host address (HostAddr) and a default route through to's router. The
// first move onto a site takes that site's LAN link out of its own host
// namespace (which must run nothing) into host's, named "lan<N>"; moving
// a host back to its own site brings its eth0 up again. The processes in
// the host namespace keep running and see the change as it happens.
func (l *Lab) MoveHost(ctx context.Context, host, to *Site) error {
	if l.isDown() {
		return ErrDown
	}
	l.mu.Lock()
	if l.ifaces == nil {
		l.ifaces = map[string][]string{}
	}
	ifaces, ok := l.ifaces[host.Host]
	if !ok {
		ifaces = []string{"eth0"}
	}
	target := "eth0"
	take := false
	if to != host {
		target = fmt.Sprintf("lan%d", to.Index)
		take = !contains(ifaces, target)
		if take {
			ifaces = append(ifaces, target)
		}
	}
	l.ifaces[host.Host] = ifaces
	l.mu.Unlock()
	if take {
		if _, err := run(ctx, fmt.Sprintf("link set eth0 down\nlink set eth0 name %s\nlink set %s netns %s\n", target, target, host.Host),
			"ip", "-n", to.Host, "-batch", "-"); err != nil {
			return err
		}
	}
	var b strings.Builder
	for _, ifc := range ifaces {
		if ifc != target {
			fmt.Fprintf(&b, "link set %s down\n", ifc)
		}
	}
	fmt.Fprintf(&b, "addr replace %s dev %s\nlink set %s up\nroute replace default via %s dev %s\n",
		netip.PrefixFrom(to.HostAddr, 24), target, target, to.lanGateway(), target)
	if _, err := run(ctx, b.String(), "ip", "-n", host.Host, "-batch", "-"); err != nil {
		return err
	}
	l.logf("natlab: host of site %d (%v) moved onto site %d (%v), address %v", host.Index, host.Kind, to.Index, to.Kind, to.HostAddr)
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// StartPair starts a bootstrap in lab l (two when the lab has a second
// server host: the daemons use both), a caller daemon at site caller
// and a callee daemon at site callee (the other sites run nothing), waits
// until the NATed ones hold relay reservations, makes them contacts and
// turns on auto-answer at the callee. In the session, Callers and
// Callees hold the one daemon each, under its site's kind.
func StartPair(ctx context.Context, l *Lab, caller, callee *Site, o SessionOptions) (*Session, error) {
	s := &Session{Lab: l, o: o, Callers: map[Kind]*Daemon{}, Callees: map[Kind]*Daemon{}}
	if s.o.LogLevel == "" {
		s.o.LogLevel = "info"
	}
	var err error
	if s.Bootstrap, err = l.StartBootstrap(ctx, o.Bins, filepath.Join(o.Dir, "bootstrap"), o.BootstrapArgs...); err != nil {
		return nil, err
	}
	if l.Server2() != "" {
		if s.Bootstrap2, err = l.StartBootstrap2(ctx, o.Bins, filepath.Join(o.Dir, "bootstrap2"), o.BootstrapArgs...); err != nil {
			return nil, err
		}
	}
	from, err := l.NewDaemon(ctx, o.Bins, caller, "caller", filepath.Join(o.Dir, "caller"), s.o.LogLevel)
	if err != nil {
		return nil, err
	}
	to, err := l.NewDaemon(ctx, o.Bins, callee, "callee", filepath.Join(o.Dir, "callee"), s.o.LogLevel)
	if err != nil {
		return nil, err
	}
	s.Callers[caller.Kind], s.Callees[callee.Kind] = from, to
	if err := s.startDaemons(ctx, []*Daemon{from, to}); err != nil {
		return nil, err
	}
	if err := s.befriendAll(ctx, Cast{Callers: []Kind{caller.Kind}, Callees: []Kind{callee.Kind}}); err != nil {
		return nil, err
	}
	return s, nil
}

// bootAddrs are the addresses of the session's bootstraps.
func (s *Session) bootAddrs() []string {
	addrs := slices.Clone(s.Bootstrap.Addrs)
	if s.Bootstrap2 != nil {
		addrs = append(addrs, s.Bootstrap2.Addrs...)
	}
	return addrs
}
