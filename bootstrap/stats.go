package bootstrap

import (
	"context"
	"fmt"
	"strings"
	"time"

	dsq "github.com/ipfs/go-datastore/query"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/internal/records"
)

// Stats is what a bootstrap server holds and has done, for operators and
// for showing users what a server can see.
type Stats struct {
	Peers             int    `json:"peers"`
	RoutingTable      int    `json:"routing_table"`
	AccountRecords    int    `json:"account_records"`
	PresenceRecords   int    `json:"presence_records"`
	RelayReservations int64  `json:"relay_reservations"`
	RelayCircuits     int64  `json:"relay_circuits"`
	TURNAllocations   uint64 `json:"turn_allocations_total"`
	TURNAuthOK        uint64 `json:"turn_auth_ok"`
	CredentialsIssued uint64 `json:"turn_credentials_issued"`
}

// Stats returns the server's current counts.
func (s *Server) Stats() Stats {
	st := Stats{
		Peers:             len(s.host.Network().Peers()),
		RoutingTable:      s.dht.RoutingTable().Size(),
		RelayReservations: s.relay.reservations.Load(),
		RelayCircuits:     s.relay.circuits.Load(),
		TURNAllocations:   s.turnMetrics.Allocations.Load(),
		TURNAuthOK:        s.turnMetrics.AuthOK.Load(),
		CredentialsIssued: s.credMetrics.Issued.Load(),
	}
	recs, _ := s.StoredRecords()
	for _, r := range recs {
		switch r.Namespace {
		case records.AccountNamespace:
			st.AccountRecords++
		case records.PresenceNamespace:
			st.PresenceRecords++
		}
	}
	return st
}

// StoredRecord is one DHT record as this server stores it.
type StoredRecord struct {
	Namespace string // records.AccountNamespace or records.PresenceNamespace
	Key       string // the DHT key (namespace prefix and raw ID bytes)
	Value     []byte // the signed record, exactly as received
}

// StoredRecords returns copies of every DHT record this server stores: all
// that the rendezvous service knows about accounts and devices.
func (s *Server) StoredRecords() ([]StoredRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.store.Query(ctx, dsq.Query{})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: records: %w", err)
	}
	defer res.Close()
	var out []StoredRecord
	for r := range res.Next() {
		if r.Error != nil {
			continue
		}
		var rec recpb.Record
		if err := proto.Unmarshal(r.Value, &rec); err != nil {
			continue
		}
		key := string(rec.GetKey())
		ns, _, _ := strings.Cut(strings.TrimPrefix(key, "/"), "/")
		out = append(out, StoredRecord{Namespace: ns, Key: key, Value: append([]byte(nil), rec.GetValue()...)})
	}
	return out, nil
}
