package bootstrap

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync/atomic"
	"time"

	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsNamespace prefixes the server's own metrics.
const metricsNamespace = "parley_bootstrap"

// relayTracer counts the relay's reservations and circuits for this server
// (libp2p's own relay metrics are process-wide) and forwards every event to
// libp2p's tracer.
type relayTracer struct {
	relayv2.MetricsTracer
	reservations atomic.Int64 // active reservations
	circuits     atomic.Int64 // active relayed connections
	refused      atomic.Uint64
}

func (t *relayTracer) ReservationAllowed(isRenewal bool) {
	if !isRenewal {
		t.reservations.Add(1)
	}
	t.MetricsTracer.ReservationAllowed(isRenewal)
}

func (t *relayTracer) ReservationClosed(cnt int) {
	t.reservations.Add(-int64(cnt))
	t.MetricsTracer.ReservationClosed(cnt)
}

func (t *relayTracer) ReservationRequestHandled(status pbv2.Status) {
	if status != pbv2.Status_OK {
		t.refused.Add(1)
	}
	t.MetricsTracer.ReservationRequestHandled(status)
}

func (t *relayTracer) ConnectionOpened() {
	t.circuits.Add(1)
	t.MetricsTracer.ConnectionOpened()
}

func (t *relayTracer) ConnectionClosed(d time.Duration) {
	t.circuits.Add(-1)
	t.MetricsTracer.ConnectionClosed(d)
}

// registerMetrics adds to the server's registry, which already holds
// libp2p's collectors (registered by the host), the Go and process
// collectors and the server's own gauges and counters, all read on scrape.
func (s *Server) registerMetrics() error {
	var errs []error
	register := func(c prometheus.Collector) { errs = append(errs, s.reg.Register(c)) }
	// Besides the defaults, the live heap after the last collection
	// (go_gc_heap_live_bytes): what the server retains, without the
	// garbage the heap in use also counts; the hostile bench reads it.
	register(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})))
	register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: name, Help: help}, f))
	}
	counter := func(name, help string, labels prometheus.Labels, f func() float64) {
		register(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help, ConstLabels: labels}, f))
	}
	gauge("connected_peers", "Peers with an open libp2p connection.", func() float64 {
		return float64(len(s.host.Network().Peers()))
	})
	gauge("dht_routing_table_size", "Peers in the DHT routing table.", func() float64 {
		return float64(s.dht.RoutingTable().Size())
	})
	gauge("dht_records", "DHT records (account and presence) stored on this server.", func() float64 {
		n, _ := s.store.Usage()
		return float64(n)
	})
	gauge("dht_record_bytes", "Bytes of the DHT records stored on this server.", func() float64 {
		_, b := s.store.Usage()
		return float64(b)
	})
	for reason, c := range map[string]*atomic.Uint64{
		"peer": &s.dhtMetrics.EvictedPeer, "ip": &s.dhtMetrics.EvictedIP, "total": &s.dhtMetrics.EvictedTotal,
		"expired": &s.dhtMetrics.Expired, "too_large": &s.dhtMetrics.Refused,
	} {
		counter("dht_records_dropped_total", "DHT records dropped or refused, by the cap that dropped them.", prometheus.Labels{"reason": reason}, func() float64 {
			return float64(c.Load())
		})
	}
	gauge("relay_reservations", "Active circuit relay reservations.", func() float64 {
		return float64(s.relay.reservations.Load())
	})
	gauge("relay_circuits", "Open relayed connections.", func() float64 {
		return float64(s.relay.circuits.Load())
	})
	counter("relay_reservations_refused_total", "Relay reservation requests refused.", nil, func() float64 {
		return float64(s.relay.refused.Load())
	})
	if s.turnStreams != nil {
		gauge("turn_streams", "Open TURN streams (TURN over libp2p streams, for devices that reach the server only over TCP port 443).", func() float64 {
			return float64(s.turnStreams.Stats().Open)
		})
		counter("turn_streams_total", "TURN streams opened or refused.", prometheus.Labels{"result": "opened"}, func() float64 {
			return float64(s.turnStreams.Stats().Opened)
		})
		counter("turn_streams_total", "TURN streams opened or refused.", prometheus.Labels{"result": "refused"}, func() float64 {
			return float64(s.turnStreams.Stats().Refused)
		})
	}
	counter("turn_auth_total", "TURN requests authenticated.", prometheus.Labels{"result": "ok"}, func() float64 {
		return float64(s.turnMetrics.AuthOK.Load())
	})
	counter("turn_auth_total", "TURN requests authenticated.", prometheus.Labels{"result": "fail"}, func() float64 {
		return float64(s.turnMetrics.AuthFail.Load())
	})
	counter("turn_allocations_total", "TURN allocations created.", nil, func() float64 {
		return float64(s.turnMetrics.Allocations.Load())
	})
	counter("turn_allocations_refused_total", "TURN allocations refused by the quotas (per device, per address, total).", nil, func() float64 {
		return float64(s.turnMetrics.QuotaRefused.Load())
	})
	counter("turn_peers_refused_total", "TURN permissions refused for their peer address (private, CGNAT, this server).", nil, func() float64 {
		return float64(s.turnMetrics.PeerRefused.Load())
	})
	counter("turn_relayed_packets_total", "Datagrams the TURN server's batched data path relayed (both directions).", nil, func() float64 {
		return float64(s.turnMetrics.FastRelayed.Load())
	})
	counter("turn_dropped_packets_total", "Datagrams the TURN server's batched data path dropped (no permission, too large, full buffers).", nil, func() float64 {
		return float64(s.turnMetrics.Dropped.Load())
	})
	gauge("turn_allocations", "Active TURN allocations.", func() float64 {
		if s.turn == nil {
			return 0
		}
		return float64(s.turn.AllocationCount())
	})
	counter("turn_credentials_total", "TURN credential requests.", prometheus.Labels{"result": "issued"}, func() float64 {
		return float64(s.credMetrics.Issued.Load())
	})
	counter("turn_credentials_total", "TURN credential requests.", prometheus.Labels{"result": "refused"}, func() float64 {
		return float64(s.credMetrics.Refused.Load())
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// handler serves /metrics and /healthz.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("closed\n"))
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// healthy reports whether the host is up: not closed and listening.
func (s *Server) healthy() bool {
	select {
	case <-s.closing:
		return false
	default:
	}
	return len(s.host.Network().ListenAddresses()) > 0
}
