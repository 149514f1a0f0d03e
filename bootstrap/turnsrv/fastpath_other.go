//go:build !linux

package turnsrv

import (
	"log/slog"
	"net"

	"github.com/pion/turn/v5"
)

// HaveFastPath reports whether this platform has the batched data path.
const HaveFastPath = false

// fastPath is the batched data path, which exists on Linux only;
// elsewhere pion relays every datagram.
type fastPath struct{}

func newFastPath(*slog.Logger, *Metrics, *peerPolicy) *fastPath { return nil }

func (*fastPath) adopt(net.PacketConn, Config) (net.PacketConn, turn.RelayAddressGenerator, bool, error) {
	return nil, nil, false, nil
}
func (*fastPath) stop()                                     {}
func (*fastPath) allocationCreated(_, _ net.Addr)           {}
func (*fastPath) permissionCreated(_, _ net.Addr, _ net.IP) {}
func (*fastPath) permissionDeleted(_, _ net.Addr, _ net.IP) {}
func (*fastPath) channelCreated(_, _, _ net.Addr, _ uint16) {}
func (*fastPath) channelDeleted(_, _, _ net.Addr, _ uint16) {}
