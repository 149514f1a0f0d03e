package turnsrv

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/parleyhq/parley/internal/ipgroup"
)

// Quota bounds the allocations a server holds at once, as coturn's
// user-quota and total-quota do, plus a quota per client address. A
// request over a quota is refused with 486 (Allocation Quota Reached).
// Zero fields mean the defaults.
type Quota struct {
	// PerUser bounds the allocations of one device (the device ID in the
	// TURN REST username, whatever the credential's expiry): coturn's
	// user-quota. Default DefaultUserQuota.
	PerUser int
	// PerIP bounds the allocations made from one client address (IPv4
	// address, IPv6 /64), whatever the device. Default DefaultIPQuota.
	PerIP int
	// Total bounds the allocations of the server: coturn's total-quota.
	// Default DefaultTotalQuota.
	Total int
}

// Quota defaults. One call leg allocates once per TURN URL it uses (UDP
// and TCP: 2), and a device in a full-mesh conference of 8 (Parley's
// default maximum) has 7 legs: 14. A relayed PCMU leg is about 86 kbit/s
// each way, so 4096 allocations are some 350 Mbit/s in and as much out,
// most of what a small server's link carries, and 4096 of the kernel's
// ~28,000 ephemeral ports.
const (
	DefaultUserQuota  = 32
	DefaultIPQuota    = 128
	DefaultTotalQuota = 4096
)

// withDefaults fills the zero fields of q.
func (q Quota) withDefaults() (Quota, error) {
	if q.PerUser < 0 || q.PerIP < 0 || q.Total < 0 {
		return q, fmt.Errorf("%w: %+v", ErrBadQuota, q)
	}
	if q.PerUser == 0 {
		q.PerUser = DefaultUserQuota
	}
	if q.PerIP == 0 {
		q.PerIP = DefaultIPQuota
	}
	if q.Total == 0 {
		q.Total = DefaultTotalQuota
	}
	return q, nil
}

// admitTimeout is how long an admitted allocation may take to be created
// before its place is given back (pion refuses some admitted requests after
// the quota check, for example when no relay port is free).
const admitTimeout = 5 * time.Second

// quotas counts allocations per device, per client address and in total.
// pion asks admit before it creates an allocation and reports created and
// deleted ones; an admitted allocation holds its place until it is created
// or admitTimeout passes, so concurrent requests cannot overshoot.
type quotas struct {
	q   Quota
	now func() time.Time

	mu      sync.Mutex // guards the following fields
	users   map[string]int
	ips     map[netip.Prefix]int
	total   int
	pending map[allocKey][]admitted // admitted, not yet created
}

// admitted is a place reserved for an allocation.
type admitted struct {
	at time.Time
	ip netip.Prefix
}

// allocKey names an allocation before it exists: its device and its
// client's transport address (one allocation per 5-tuple).
type allocKey struct {
	user string
	src  string
}

func newQuotas(q Quota, now func() time.Time) *quotas {
	return &quotas{q: q, now: now, users: make(map[string]int), ips: make(map[netip.Prefix]int), pending: make(map[allocKey][]admitted)}
}

// clientGroup is the address a client's allocations are counted under.
func clientGroup(src net.Addr) netip.Prefix {
	var ap netip.AddrPort
	switch a := src.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	}
	addr := ap.Addr().Unmap()
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	return ipgroup.Host(addr)
}

// admit is pion's QuotaHandler: it reserves a place for a new allocation
// of user from src, or refuses.
func (q *quotas) admit(user string, src net.Addr) (ok bool, why string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
	ip := clientGroup(src)
	switch {
	case q.total >= q.q.Total:
		return false, "total quota"
	case q.users[user] >= q.q.PerUser:
		return false, "user quota"
	case q.ips[ip] >= q.q.PerIP:
		return false, "address quota"
	}
	q.addLocked(user, ip, 1)
	k := allocKey{user, src.String()}
	q.pending[k] = append(q.pending[k], admitted{q.now(), ip})
	return true, ""
}

// created is told of each allocation pion created.
func (q *quotas) created(user string, src net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := allocKey{user, src.String()}
	if p := q.pending[k]; len(p) > 0 {
		if len(p) == 1 {
			delete(q.pending, k)
		} else {
			q.pending[k] = p[1:]
		}
		return // its place is already counted
	}
	q.addLocked(user, clientGroup(src), 1) // admitted so long ago its place was given back
}

// deleted is told of each allocation pion removed.
func (q *quotas) deleted(user string, src net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(user, clientGroup(src), -1)
}

// counts returns the allocations counted (created and admitted).
func (q *quotas) counts() (total int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

func (q *quotas) addLocked(user string, ip netip.Prefix, n int) {
	q.total = max(0, q.total+n)
	if q.users[user] += n; q.users[user] <= 0 {
		delete(q.users, user)
	}
	if q.ips[ip] += n; q.ips[ip] <= 0 {
		delete(q.ips, ip)
	}
}

// expireLocked gives back the places of admitted allocations never
// created.
func (q *quotas) expireLocked() {
	cutoff := q.now().Add(-admitTimeout)
	for k, adm := range q.pending {
		i := 0
		for i < len(adm) && adm[i].at.Before(cutoff) {
			q.addLocked(k.user, adm[i].ip, -1)
			i++
		}
		switch {
		case i == len(adm):
			delete(q.pending, k)
		case i > 0:
			q.pending[k] = adm[i:]
		}
	}
}
