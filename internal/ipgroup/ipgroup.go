// Package ipgroup groups network addresses the way per-address limits
// count them: a limit per "address" that counted each IPv6 address alone
// would be no limit, since one host usually holds a whole /64.
package ipgroup

import "net/netip"

// Of is the prefix of a that a limit counts together: its first v4 bits
// for an IPv4 address, its first v6 bits for an IPv6 one. An IPv4-mapped
// IPv6 address counts as IPv4.
func Of(a netip.Addr, v4, v6 int) netip.Prefix {
	a = a.Unmap()
	bits := v4
	if a.Is6() {
		bits = v6
	}
	p, _ := a.Prefix(bits)
	return p
}

// Host is the group of one host: the IPv4 address itself, or the IPv6 /64.
func Host(a netip.Addr) netip.Prefix { return Of(a, 32, 64) }
