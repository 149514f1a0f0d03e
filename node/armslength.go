package node

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/store"
)

// Strangers stay at arm's length (docs/threat-model.md, "Strangers"):
// over a connection that runs only through a circuit relay, a peer that is
// neither a device of this account nor a device of an accepted contact
// gets no identify exchange (which would tell it every address the host
// listens on, and tell us its own) and no hole punching (DCUtR, which
// would open a direct connection between the two). The guard sits in the
// resource manager, which libp2p asks before any stream, in either
// direction, takes its protocol: a refusal resets the stream.

// armsLengthProtocols are the protocols refused with strangers over relayed
// connections.
var armsLengthProtocols = map[protocol.ID]bool{
	identify.ID:        true,
	identify.IDPush:    true,
	holepunch.Protocol: true,
}

// errStranger is the resource manager's refusal of an arm's-length
// protocol.
var errStranger = errors.New("not with a stranger over a relayed connection")

// strangerGuard wraps the host's resource manager.
type strangerGuard struct {
	network.ResourceManager
	host    atomic.Pointer[host.Host]          // set once the host exists
	trusted atomic.Pointer[func(peer.ID) bool] // set once the store is open
	refused atomic.Uint64                      // streams refused
}

// newStrangerGuard wraps libp2p's default resource manager (the one
// libp2p.New makes when given none).
func newStrangerGuard() (*strangerGuard, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	mgr, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, err
	}
	return &strangerGuard{ResourceManager: mgr}, nil
}

// OpenStream opens the stream's scope, which checks its protocol.
func (g *strangerGuard) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	s, err := g.ResourceManager.OpenStream(p, dir)
	if err != nil {
		return nil, err
	}
	return &guardedStream{StreamManagementScope: s, g: g, p: p}, nil
}

// deny reports whether protocol proto is refused with p now: p is not
// trusted and every connection to it runs through a relay.
func (g *strangerGuard) deny(p peer.ID, proto protocol.ID) bool {
	if !armsLengthProtocols[proto] {
		return false
	}
	hp, tp := g.host.Load(), g.trusted.Load()
	if hp == nil || tp == nil {
		return false
	}
	conns := (*hp).Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return false
	}
	for _, c := range conns {
		if !c.Stat().Limited {
			return false // a direct connection already says it all
		}
	}
	return !(*tp)(p)
}

type guardedStream struct {
	network.StreamManagementScope
	g *strangerGuard
	p peer.ID
}

func (s *guardedStream) SetProtocol(proto protocol.ID) error {
	if s.g.deny(s.p, proto) {
		s.g.refused.Add(1)
		return errStranger
	}
	return s.StreamManagementScope.SetProtocol(proto)
}

// trustedPeer reports whether p is a device of this account or of an
// accepted contact whose account record this node holds (from a lookup or
// a push). A contact whose record is not at hand yet counts as a stranger
// for the guard: its relayed connection then has no hole punching, and
// calls still go through (their media take their own ICE path).
func (n *Node) trustedPeer(p peer.ID) bool {
	dev := pcrypto.DeviceID(p)
	if ders, err := n.st.DeviceCerts(); err == nil {
		if _, ok := ders[dev]; ok {
			return true
		}
	}
	contacts, err := n.st.Contacts()
	if err != nil {
		return false
	}
	now := n.o.Now()
	for _, c := range contacts {
		if c.State != store.Accepted {
			continue
		}
		rec := n.presenceSvc.CachedAccount(c.AccountID, now, time.Duration(1<<63-1))
		if rec == nil {
			continue
		}
		for _, dc := range rec.Devices {
			if dc.Device == dev {
				return true
			}
		}
	}
	return false
}
