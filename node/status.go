package node

import (
	"runtime"
	"runtime/metrics"

	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// kadProtocol is the Kademlia protocol of Parley's DHT ("/parley" prefix).
const kadProtocol protocol.ID = "/parley/kad/1.0.0"

// Status reports who the node is and how it is connected.
func (n *Node) Status() (*apitype.Status, error) {
	id, err := account.Summary(n.st, n.o.DataDir)
	if err != nil {
		return nil, err
	}
	items, err := n.st.Outbox()
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	s := &apitype.Status{
		Identity:     *id,
		Running:      n.running,
		Reachability: reachabilityString(n.reach),
		Published:    n.Published(),
		Pending:      len(items),
	}
	n.mu.Unlock()
	s.DHTMode = "client"
	for _, p := range n.h.Mux().Protocols() {
		if p == kadProtocol {
			s.DHTMode = "server" // only a DHT server answers queries
		}
	}
	for _, a := range n.presenceSvc.Addrs() {
		s.Addrs = append(s.Addrs, a.String())
	}
	for _, bs := range n.bootstraps {
		b := apitype.Bootstrap{PeerID: bs.ID.String(), Connected: n.presenceSvc.Connected(bs.ID)}
		if len(bs.Addrs) > 0 {
			b.Addr = bs.Addrs[0].String()
		}
		s.Bootstraps = append(s.Bootstraps, b)
	}
	s.Peers = len(n.h.Network().Peers())
	s.SignallingDropped = n.callsSvc.SignallingDropped()
	if err := n.devicesSvc.CheckNotRevoked(); err != nil {
		s.Revoked = err.Error()
	}
	cached, evicted := n.presenceSvc.CacheStats()
	s.Dropped = map[string]uint64{
		"contact_requests":       n.contactsSvc.DroppedRequests(),
		"account_records":        evicted,
		"conference_invitations": n.confSvc.DroppedInvitations(),
	}
	s.Cached = map[string]int{"account_records": cached}
	s.Memory = memoryNow()
	return s, nil
}

// heapLiveMetric is the runtime metric of the live heap.
const heapLiveMetric = "/gc/heap/live:bytes"

// memoryNow reads the live Go heap and the goroutine count; cheap (no
// stop-the-world), so a status poll can ask for it.
func memoryNow() apitype.Memory {
	sample := []metrics.Sample{{Name: heapLiveMetric}}
	metrics.Read(sample)
	m := apitype.Memory{Goroutines: runtime.NumGoroutine()}
	if sample[0].Value.Kind() == metrics.KindUint64 {
		m.HeapLiveBytes = sample[0].Value.Uint64()
	}
	return m
}

func reachabilityString(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	}
	return "unknown"
}

// Subscribe returns the node's event stream and a function that ends it.
func (n *Node) Subscribe() (<-chan apitype.Event, func()) { return n.ev.Subscribe() }

// Settings returns the node's settings, defaults included.
func (n *Node) Settings() (map[service.SettingKey]string, error) {
	all, err := n.st.Settings()
	if err != nil {
		return nil, err
	}
	out := map[service.SettingKey]string{}
	for _, k := range service.SettingKeys() {
		out[k] = k.Default()
		if v, ok := all[string(k)]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// SetSetting changes a known setting.
func (n *Node) SetSetting(key service.SettingKey, value string) error {
	if err := key.Check(value); err != nil {
		return err
	}
	return n.st.SetSetting(string(key), value)
}
