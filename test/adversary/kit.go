package adversary

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pion/turn/v5"
	"google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
)

// DHTProtocol is the Parley DHT's kad protocol.
const DHTProtocol = records.ProtocolPrefix + "/kad/1.0.0"

// Account is an account made by the attacker (or by a victim in a test).
type Account struct {
	Key  *crypto.AccountKey
	Cert *crypto.AccountCert
}

// Device is a device of an Account.
type Device struct {
	Account *Account
	Key     *crypto.DeviceKey
	Cert    *crypto.DeviceCert
}

// NewAccount makes an account.
func NewAccount() (*Account, error) {
	k, err := crypto.NewAccountKey(nil)
	if err != nil {
		return nil, err
	}
	c, err := crypto.CreateAccountCert(k, "", crypto.CertOptions{})
	if err != nil {
		return nil, err
	}
	return &Account{Key: k, Cert: c}, nil
}

// NewDevice makes a device of a.
func (a *Account) NewDevice() (*Device, error) {
	k, err := crypto.NewDeviceKey(nil)
	if err != nil {
		return nil, err
	}
	c, err := crypto.IssueDeviceCert(a.Key, a.Cert, k.Public(), "", crypto.CertOptions{})
	if err != nil {
		return nil, err
	}
	return &Device{Account: a, Key: k, Cert: c}, nil
}

// Record makes a's account record listing devices, its CRL revoking
// revoked (none: no CRL), valid for an hour.
func (a *Account) Record(devices, revoked []*Device) (key string, value []byte, err error) {
	var crl *crypto.CRL
	if len(revoked) > 0 {
		var serials []*big.Int
		for _, d := range revoked {
			serials = append(serials, d.Cert.Serial())
		}
		if crl, err = crypto.CreateCRL(a.Key, a.Cert, nil, serials, time.Now()); err != nil {
			return "", nil, err
		}
	}
	var dcs []*crypto.DeviceCert
	for _, d := range devices {
		dcs = append(dcs, d.Cert)
	}
	now := time.Now()
	value, err = records.NewAccount(a.Key, a.Cert, dcs, crl, nextSeq(now), time.Hour, now)
	return records.AccountKey(a.Key.ID()), value, err
}

// Host starts a libp2p host with the device's key (so its peer ID is the
// device ID) listening on TCP at ip (port chosen by the kernel). With TCP
// port reuse, connections it dials leave from that address too.
func (d *Device) Host(ip string) (host.Host, error) {
	k, err := lcrypto.UnmarshalEd25519PrivateKey(d.Key.Ed25519()) // libp2p keeps the slice
	if err != nil {
		return nil, err
	}
	return NewHost(k, ip)
}

// NewHost starts a libp2p host with key k (nil: a fresh one) on TCP at ip.
func NewHost(k lcrypto.PrivKey, ip string) (host.Host, error) {
	opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/" + ip + "/tcp/0"), libp2p.DisableRelay()}
	if k != nil {
		opts = append(opts, libp2p.Identity(k))
	}
	return libp2p.New(opts...)
}

// TCPOnly returns the TCP addresses of a server, for hosts that must dial
// from their listen address.
func TCPOnly(ai peer.AddrInfo) peer.AddrInfo {
	out := peer.AddrInfo{ID: ai.ID}
	for _, a := range ai.Addrs {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			out.Addrs = append(out.Addrs, a)
		}
	}
	return out
}

// JunkPresence makes a valid presence record of a fresh device that claims
// a fresh account (which has no record): the cheapest record an attacker
// can store. It carries addrs addresses of about 200 bytes each (at most
// records.MaxAddrs), so its size ranges from about 150 bytes to about
// 6.6 KiB (records.MaxPresenceRecordSize is 8 KiB).
func JunkPresence(addrs int) (key string, value []byte, err error) {
	dk, err := crypto.NewDeviceKey(nil)
	if err != nil {
		return "", nil, err
	}
	ak, err := crypto.NewAccountKey(nil)
	if err != nil {
		return "", nil, err
	}
	var mas []ma.Multiaddr
	for i := range min(addrs, records.MaxAddrs) {
		// A DNS name pads the address to near records.MaxAddrLen.
		s := fmt.Sprintf("/dns4/%s.example/tcp/%d", strings.Repeat("x", 60)+strings.Repeat(".y", 60)+fmt.Sprint(i), 4001)
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return "", nil, err
		}
		mas = append(mas, a)
	}
	value, err = records.NewPresence(dk, ak.ID(), mas, 1, time.Hour, time.Now())
	return records.PresenceKey(dk.ID()), value, err
}

// Presence makes d's presence record, with no addresses.
func (d *Device) Presence() (key string, value []byte, err error) {
	now := time.Now()
	value, err = records.NewPresence(d.Key, d.Account.Cert.ID, nil, nextSeq(now), time.Hour, now)
	return records.PresenceKey(d.Key.ID()), value, err
}

// maxDHTMessage bounds the answer PutValue reads.
const maxDHTMessage = 1 << 20

// PutValue sends one PUT_VALUE request for key and value to server over a
// new DHT stream and waits for the answer (the server echoes the request
// when it stored the record, and resets the stream when it refused it).
func PutValue(ctx context.Context, h host.Host, server peer.ID, key string, value []byte) error {
	s, err := h.NewStream(ctx, server, DHTProtocol)
	if err != nil {
		return fmt.Errorf("adversary: put: %w", err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	msg := &pb.Message{Type: pb.Message_PUT_VALUE, Key: []byte(key), Record: &recpb.Record{Key: []byte(key), Value: value}}
	b, err := proto.Marshal(msg)
	if err != nil {
		return err
	}
	if err := msgio.NewVarintWriter(s).WriteMsg(b); err != nil {
		_ = s.Reset()
		return fmt.Errorf("adversary: put: %w", err)
	}
	r := msgio.NewVarintReaderSize(s, maxDHTMessage)
	resp, err := r.ReadMsg()
	if err != nil {
		_ = s.Reset()
		return fmt.Errorf("adversary: put refused: %w", err)
	}
	r.ReleaseMsg(resp)
	return nil
}

// GetValue asks server for the record it stores under key (GET_VALUE),
// and returns its value, or nil when the server has none.
func GetValue(ctx context.Context, h host.Host, server peer.ID, key string) ([]byte, error) {
	s, err := h.NewStream(ctx, server, DHTProtocol)
	if err != nil {
		return nil, fmt.Errorf("adversary: get: %w", err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	b, err := proto.Marshal(&pb.Message{Type: pb.Message_GET_VALUE, Key: []byte(key)})
	if err != nil {
		return nil, err
	}
	if err := msgio.NewVarintWriter(s).WriteMsg(b); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("adversary: get: %w", err)
	}
	r := msgio.NewVarintReaderSize(s, maxDHTMessage)
	data, err := r.ReadMsg()
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("adversary: get: %w", err)
	}
	defer r.ReleaseMsg(data)
	var resp pb.Message
	if err := proto.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("adversary: get: %w", err)
	}
	if resp.GetRecord() == nil {
		return nil, nil
	}
	return append([]byte(nil), resp.GetRecord().GetValue()...), nil
}

// Connect connects h to the server at ai.
func Connect(ctx context.Context, h host.Host, ai peer.AddrInfo) error {
	if err := h.Connect(ctx, ai); err != nil {
		return fmt.Errorf("adversary: connect: %w", err)
	}
	return nil
}

// RemoteIP returns the IP address server sees h's connection from.
func RemoteIP(h host.Host, server peer.ID) string {
	for _, c := range h.Network().ConnsToPeer(server) {
		if ip, err := c.LocalMultiaddr().ValueForProtocol(ma.P_IP4); err == nil {
			return ip
		}
	}
	return ""
}

// Allocation is a TURN allocation and the client that holds it.
type Allocation struct {
	Relay  net.PacketConn
	client *turn.Client
	conn   net.PacketConn
}

// Close releases the allocation (Refresh with lifetime 0) and the client.
func (a *Allocation) Close() {
	_ = a.Relay.Close()
	a.client.Close()
	_ = a.conn.Close()
}

// Allocate makes a UDP TURN allocation on the server at addr (host:port)
// with the given credentials, from a fresh UDP socket on localIP.
func Allocate(addr, localIP, user, pass string) (*Allocation, error) {
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(localIP, "0"))
	if err != nil {
		return nil, err
	}
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "parley", RTO: 200 * time.Millisecond})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := c.Listen(); err != nil {
		c.Close()
		_ = conn.Close()
		return nil, err
	}
	relay, err := c.Allocate()
	if err != nil {
		c.Close()
		_ = conn.Close()
		return nil, err
	}
	return &Allocation{Relay: relay, client: c, conn: conn}, nil
}

// CreatePermission asks the server for a permission to peer.
func (a *Allocation) CreatePermission(peer net.Addr) error { return a.client.CreatePermission(peer) }

// Metrics are a scrape of Prometheus text: sample name with its labels
// (as written, e.g. `x_total{result="ok"}`) → value.
type Metrics map[string]float64

// Scrape reads the metrics at http://addr/metrics.
func Scrape(ctx context.Context, addr string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("adversary: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("adversary: scrape: %s", resp.Status)
	}
	m := Metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("adversary: scrape: %w", err)
	}
	return m, nil
}

// Sum adds the samples of a metric over all its labels.
func (m Metrics) Sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// ErrNoMetricsAddr means a bootstrap's output never named its metrics
// address.
var ErrNoMetricsAddr = errors.New("adversary: no metrics address in the bootstrap's output")

// MetricsAddr finds the metrics address parley-bootstrap prints at start
// ("metrics: http://ADDR/metrics") in its output.
func MetricsAddr(output string) (string, error) {
	for line := range strings.SplitSeq(output, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "metrics: http://"); ok {
			return strings.TrimSuffix(rest, "/metrics"), nil
		}
	}
	return "", ErrNoMetricsAddr
}

// lastSeq is the last record sequence number nextSeq handed out.
var lastSeq atomic.Uint64

// nextSeq returns a record sequence number above every earlier one: the
// clock in Unix milliseconds (validators refuse sequences more than a
// minute ahead of their clock), bumped when it did not move.
func nextSeq(now time.Time) uint64 {
	for {
		last := lastSeq.Load()
		next := max(last+1, uint64(now.UnixMilli()))
		if lastSeq.CompareAndSwap(last, next) {
			return next
		}
	}
}
