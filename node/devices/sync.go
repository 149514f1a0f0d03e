package devices

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/internal/wire"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// SyncProtocol carries the replicated state between the devices of one
// account: one stream carries one request (the initiator's state) and one
// reply (the responder's state after merging, or a refusal).
const SyncProtocol = "/parley/sync/1.0.0"

// Timing and bounds of sync.
const (
	// maxSyncMessage bounds one frame of a sync message; a message with
	// more entries is sent as several frames (syncMsg.More), at most
	// maxSyncTotal in all. The state of an account is therefore not
	// limited by one frame.
	maxSyncMessage = 4 << 20
	// syncChunk is the size the sender cuts its entries at.
	syncChunk = 1 << 20
	// maxSyncTotal bounds the frames of one message together (about
	// 200,000 contacts).
	maxSyncTotal = 64 << 20
	// maxUntrustedSync bounds what is read from a device that is not a
	// trusted device of the account before it is refused: enough for a
	// refusal carrying a CRL, nothing like a whole state.
	maxUntrustedSync = 64 << 10
	// maxSyncEntries bounds the entries of one message (an entry decodes
	// to more memory than its smallest encoding takes).
	maxSyncEntries = 250_000
	// maxSyncStreams bounds the sync requests served at once.
	maxSyncStreams = 8
	syncTimeout    = 20 * time.Second
	// syncInterval is how often a device syncs with the others and checks
	// the account record in the DHT when nothing else made it do so.
	syncInterval = 30 * time.Second
	// syncPollInterval is how often the store is checked for local changes
	// (contacts, account settings) to send.
	syncPollInterval = time.Second
	// syncRetryMin is the first delay before retrying devices that were
	// not reached; it doubles up to syncInterval.
	syncRetryMin = time.Second
	// syncStartupLimit bounds the sync round that runs before the first
	// publish of the account record.
	syncStartupLimit = 15 * time.Second
	// refusedRecheck is how long after refusing an unknown device of our
	// account the account record in the DHT is checked for it.
	refusedRecheck = 3 * time.Second
)

// syncMsg is a sync request or reply; see docs/protocol.md "Sync between
// devices".
type syncMsg struct {
	V       int               `json:"v"`
	Account pcrypto.AccountID `json:"account"` // text form; parsed when decoded
	CRL     []byte            `json:"crl,omitempty"`
	Devices []syncDevice      `json:"devices,omitempty"`
	Entries []syncItem        `json:"entries,omitempty"`
	// Record is the newest admin-signed account record the sender holds:
	// members learn new records (and the admin list) from it.
	Record []byte `json:"record,omitempty"`
	// PresenceKey and PresenceGen are the account's presence key as the
	// sender holds it; the receiver keeps the newer (higher generation,
	// ties by the larger SHA-256 of the key).
	PresenceKey []byte `json:"presence_key,omitempty"`
	PresenceGen uint32 `json:"presence_gen,omitempty"`
	// Code and Error are set on a refused request: "account" (another
	// account), "unknown" (a device the responder does not know),
	// "revoked" (a revoked device, on either side).
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	// More says that another frame follows with more entries (and only
	// entries).
	More bool `json:"more,omitempty"`
}

// syncDevice is one device certificate of the account.
type syncDevice struct {
	Cert   []byte    `json:"cert"`
	Linked time.Time `json:"linked,omitzero"`
}

// syncItem is one replicated entry (store.SyncEntry on the wire). Dev is
// the text form of the device ID, parsed by entry.
type syncItem struct {
	Key   string `json:"key"`
	T     int64  `json:"t"`
	Dev   string `json:"dev,omitempty"`
	Del   bool   `json:"del,omitempty"`
	Name  string `json:"name,omitempty"`
	State string `json:"state,omitempty"`
	Msg   string `json:"msg,omitempty"`
	Asked int64  `json:"asked,omitempty"`
	Value string `json:"value,omitempty"`
	// PK and PG are a contact's presence key and its generation.
	PK []byte `json:"pk,omitempty"`
	PG uint32 `json:"pg,omitempty"`
}

func toSyncItem(e store.SyncEntry) syncItem {
	var dev string
	if e.Device != "" {
		dev = e.Device.String()
	}
	it := syncItem{Key: e.Key, T: e.Time, Dev: dev, Del: e.Deleted, Name: e.Name, State: string(e.State), Msg: e.Message, Asked: e.Asked, Value: e.Value}
	if !e.PresenceKey.IsZero() {
		it.PK, it.PG = e.PresenceKey.Key[:], e.PresenceKey.Gen
	}
	return it
}

// entry returns the item as a store entry; an item whose device is not a
// device ID is refused.
func (it syncItem) entry() (store.SyncEntry, error) {
	var dev pcrypto.DeviceID
	if it.Dev != "" {
		var err error
		if dev, err = pcrypto.ParseDeviceID(it.Dev); err != nil {
			return store.SyncEntry{}, err
		}
	}
	e := store.SyncEntry{Key: it.Key, Time: it.T, Device: dev, Deleted: it.Del, Name: it.Name, State: store.ContactState(it.State), Message: it.Msg, Asked: it.Asked, Value: it.Value}
	if it.PG != 0 {
		if len(it.PK) != store.PresenceKeyLen {
			return store.SyncEntry{}, fmt.Errorf("presence key of %d bytes", len(it.PK))
		}
		e.PresenceKey.Gen = it.PG
		copy(e.PresenceKey.Key[:], it.PK)
	}
	return e, nil
}

// encodeSyncMsg frames a message: uvarint length, then JSON; entries past
// syncChunk bytes go into further frames, each marked More but the last.
func encodeSyncMsg(m *syncMsg) ([]byte, error) {
	first := *m
	first.V, first.More, first.Entries = 1, false, nil
	frames := []*syncMsg{&first}
	cur, size := &first, 0
	for _, it := range m.Entries {
		n := len(it.Key) + len(it.Dev) + len(it.Name) + len(it.State) + len(it.Msg) + len(it.Value) + 2*len(it.PK) + 128
		if size > 0 && size+n > syncChunk {
			cur.More = true
			cur = &syncMsg{V: 1, Account: m.Account}
			frames = append(frames, cur)
			size = 0
		}
		cur.Entries = append(cur.Entries, it)
		size += n
	}
	var out []byte
	for _, f := range frames {
		body, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		if out, err = wire.AppendFrame(out, body, maxSyncMessage); err != nil {
			return nil, err
		}
		if len(out) > maxSyncTotal {
			return nil, fmt.Errorf("sync state of %d bytes exceeds %d", len(out), maxSyncTotal)
		}
	}
	return out, nil
}

// decodeSyncMsg parses one message body.
func decodeSyncMsg(body []byte) (*syncMsg, error) {
	var m syncMsg
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed sync message: %v", err)
	}
	if dec.More() {
		return nil, errors.New("malformed sync message: trailing data")
	}
	if m.V != 1 {
		return nil, fmt.Errorf("sync message version %d", m.V)
	}
	if m.Account.IsZero() {
		return nil, errors.New("sync message account: missing")
	}
	if len(m.Entries) > maxSyncEntries {
		return nil, fmt.Errorf("sync message of more than %d entries", maxSyncEntries)
	}
	if len(m.Code) > 32 || len(m.Error) > 1024 {
		return nil, errors.New("sync message refusal too long")
	}
	return &m, nil
}

// readSyncMsg reads one message, all its frames; r bounds the total.
func readSyncMsg(r *bufio.Reader) (*syncMsg, error) {
	body, err := wire.ReadFrame(r, maxSyncMessage)
	if err != nil {
		return nil, err
	}
	m, err := decodeSyncMsg(body)
	if err != nil {
		return nil, err
	}
	for more := m.More; more; {
		body, err := wire.ReadFrame(r, maxSyncMessage)
		if err != nil {
			return nil, fmt.Errorf("sync message continuation: %w", err)
		}
		next, err := decodeSyncMsg(body)
		if err != nil {
			return nil, err
		}
		if next.Account != m.Account || next.CRL != nil || next.Devices != nil || next.PresenceKey != nil || next.PresenceGen != 0 || next.Code != "" || next.Error != "" {
			return nil, errors.New("malformed sync message: a continuation frame carries more than entries")
		}
		m.Entries = append(m.Entries, next.Entries...)
		if len(m.Entries) > maxSyncEntries {
			return nil, fmt.Errorf("sync message of more than %d entries", maxSyncEntries)
		}
		more = next.More
	}
	m.More = false
	return m, nil
}

// syncState is this device's state to send: every replicated entry (local
// changes versioned first), the device certificates and the CRL.
func (svc *Service) syncState() (*syncMsg, error) {
	entries, err := svc.Store.SyncState(svc.ID.DeviceCert.Device, service.Names(service.AccountSettings))
	if err != nil {
		return nil, err
	}
	m := &syncMsg{Account: svc.ID.AccountCert.ID}
	for _, e := range entries {
		m.Entries = append(m.Entries, toSyncItem(e))
	}
	if m.CRL, _, err = svc.Store.CRL(); err != nil {
		return nil, err
	}
	if m.Record, _, _, err = svc.Store.OwnRecord(); err != nil {
		return nil, err
	}
	if k := svc.pres.PresenceKey(); !k.IsZero() {
		m.PresenceKey, m.PresenceGen = append([]byte(nil), k.Key[:]...), k.Gen
	}
	ders, err := svc.Store.DeviceCerts()
	if err != nil {
		return nil, err
	}
	metas, err := svc.Store.DeviceMetas()
	if err != nil {
		return nil, err
	}
	for _, id := range sortedMapKeys(ders) {
		m.Devices = append(m.Devices, syncDevice{Cert: ders[id], Linked: metas[id].Linked})
	}
	return m, nil
}

// refusal is a sync reply that refuses the request; it carries our CRL so
// that a revoked device learns it is revoked.
func (svc *Service) refusal(code string, err error) *syncMsg {
	m := &syncMsg{Account: svc.ID.AccountCert.ID, Code: code, Error: err.Error()}
	m.CRL, _, _ = svc.Store.CRL()
	return m
}

// handleSyncStream serves one sync request from another device.
func (svc *Service) handleSyncStream(s network.Stream) {
	defer s.Close()
	select {
	case svc.syncSlots <- struct{}{}:
		defer func() { <-svc.syncSlots }()
	default:
		s.Reset() // busy: the sender retries
		return
	}
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	// The peer is authenticated by the connection: a device that is not a
	// trusted device of the account gets a small budget, enough for what
	// it may legitimately send (a refusal with a CRL), before it is
	// refused.
	limit := int64(maxUntrustedSync)
	if _, err := svc.trustedDevice(pcrypto.DeviceID(s.Conn().RemotePeer())); err == nil {
		limit = maxSyncTotal
	}
	req, err := readSyncMsg(bufio.NewReader(io.LimitReader(s, limit)))
	if err != nil {
		svc.Log.Debug("sync request dropped", "from", s.Conn().RemotePeer(), "err", err)
		s.Reset()
		return
	}
	reply := svc.receiveSync(pcrypto.DeviceID(s.Conn().RemotePeer()), req)
	b, err := encodeSyncMsg(reply)
	if err != nil {
		s.Reset()
		return
	}
	if _, err := s.Write(b); err != nil {
		s.Reset()
	}
}

// receiveSync merges a request from device from and returns the reply.
// Only trusted devices of the account (see trustedDevice) are heard; a
// revocation in the request is merged first, so a device that learns of
// its own revocation cannot slip in its state.
func (svc *Service) receiveSync(from pcrypto.DeviceID, m *syncMsg) *syncMsg {
	if m.Account != svc.ID.AccountCert.ID {
		return svc.refusal("account", fmt.Errorf("%w: device %s is of another account", ErrUnknownDevice, from.Short()))
	}
	crlChanged := svc.mergeSyncCRL(m.CRL)
	if err := svc.CheckNotRevoked(); err != nil {
		return svc.refusal("revoked", err)
	}
	if _, err := svc.trustedDevice(from); err != nil {
		code := "revoked"
		if errors.Is(err, ErrUnknownDevice) {
			code = "unknown"
			svc.refusedUnknown(from)
		}
		svc.Log.Info("sync refused", "from", from, "err", err)
		return svc.refusal(code, err)
	}
	svc.applyState(from, m, crlChanged)
	reply, err := svc.syncState()
	if err != nil {
		svc.Log.Error("sync state", "err", err)
		return svc.refusal("busy", errors.New("internal error, try again"))
	}
	return reply
}

// refusedUnknown remembers a device that holds a certificate of our account
// but was never approved by a trusted device, and has the sync loop check a
// little later whether it put itself into the account record.
func (svc *Service) refusedUnknown(d pcrypto.DeviceID) {
	svc.devs.noteRefused(d, true)
	svc.devs.scheduleRecheck(time.Now().Add(refusedRecheck))
}

// mergeSyncCRL merges a CRL received by sync; it reports a change.
func (svc *Service) mergeSyncCRL(der []byte) bool {
	if len(der) == 0 {
		return false
	}
	changed, err := svc.mergeCRL(der)
	if err != nil {
		svc.Log.Warn("CRL from another device refused", "err", err)
		return false
	}
	if changed {
		svc.Log.Info("adopted revocations from another device")
		svc.Events.Publish(apitype.Event{Type: apitype.EventDeviceRevoked, Time: svc.Now()})
	}
	return changed
}

// applyState merges a trusted device's state: device certificates, then
// entries.
func (svc *Service) applyState(from pcrypto.DeviceID, m *syncMsg, crlChanged bool) {
	svc.takeRecord(from, m.Record)
	svc.takePresenceKey(from, m)
	added := svc.mergeDevices(m.Devices)
	entries := make([]store.SyncEntry, 0, len(m.Entries))
	badDevice := 0
	for _, it := range m.Entries {
		e, err := it.entry()
		if err != nil {
			badDevice++
			continue
		}
		entries = append(entries, e)
	}
	res, err := svc.Store.MergeSync(svc.ID.DeviceCert.Device, service.Names(service.AccountSettings), entries)
	if err != nil {
		svc.Log.Error("merging state from another device", "from", from, "err", err)
	}
	applied := res.Applied
	if skipped := res.Skipped + badDevice; skipped > 0 {
		svc.Log.Warn("entries from another device skipped as invalid", "from", from, "count", skipped)
	}
	_ = svc.Store.NoteDeviceSeen(from, svc.Now())
	if len(applied) > 0 {
		svc.Log.Info("applied changes from another device", "from", from, "count", len(applied))
		svc.Events.Publish(apitype.Event{Type: apitype.EventSyncApplied, Time: svc.Now(), Device: from.String(), Message: strconv.Itoa(len(applied))})
	}
	if added || crlChanged {
		svc.pres.PublishNow()
	}
	// Pass changes on to devices the sender may not reach, and send local
	// changes the merge versioned (made while this exchange ran).
	if added || crlChanged || len(applied) > 0 || res.Recorded > 0 {
		svc.devs.kickSync()
	}
}

// takeRecord takes an account record of our account from a trusted device:
// verified (signed by the account key) and checked against the pin like a
// record from the DHT.
func (svc *Service) takeRecord(from pcrypto.DeviceID, raw []byte) {
	if len(raw) == 0 {
		return
	}
	now := svc.Now()
	rec, err := records.ParseAccount(records.AccountKey(svc.ID.AccountCert.ID), raw, now)
	if err == nil {
		err = svc.pres.UpdateAccount(svc.ID.AccountCert.ID, rec, now)
	}
	if err != nil {
		svc.Log.Debug("account record from another device not taken", "from", from, "err", err)
	}
}

// syncWith runs one exchange with device d. With tellOnly, the reply is
// not merged (used to tell a revoked device about its revocation).
func (svc *Service) syncWith(ctx context.Context, d pcrypto.DeviceID, tellOnly bool) error {
	pid := peer.ID(d)
	var err error
	if !svc.pres.Connected(pid) {
		p, err := svc.pres.ResolvePresence(ctx, svc.ID.AccountCert.ID, d)
		if err != nil {
			return err
		}
		if err := svc.Host.Connect(ctx, peer.AddrInfo{ID: pid, Addrs: p.Addrs}); err != nil {
			return err
		}
	}
	var state *syncMsg
	if tellOnly {
		// Only the CRL: a revoked device gets none of the account's state.
		state = svc.refusal("revoked", fmt.Errorf("%w: device %s", pcrypto.ErrRevoked, d.Short()))
	} else if state, err = svc.syncState(); err != nil {
		return err
	}
	b, err := encodeSyncMsg(state)
	if err != nil {
		return err
	}
	s, err := svc.Host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), pid, SyncProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	if _, err := s.Write(b); err != nil {
		s.Reset()
		return err
	}
	if tellOnly {
		// The revoked device is told; what it answers is not read (it
		// is not trusted: a reply is only a way to make us buffer).
		_ = s.CloseWrite()
		return nil
	}
	reply, err := readSyncMsg(bufio.NewReader(io.LimitReader(s, maxSyncTotal)))
	if err != nil {
		s.Reset()
		return fmt.Errorf("sync reply: %w", err)
	}
	if reply.Account != svc.ID.AccountCert.ID {
		return fmt.Errorf("%w: device %s answered for another account", ErrUnknownDevice, d.Short())
	}
	crlChanged := svc.mergeSyncCRL(reply.CRL)
	if reply.Code != "" {
		return fmt.Errorf("device %s refused to sync (%s): %s", d.Short(), reply.Code, reply.Error)
	}
	if _, err := svc.trustedDevice(d); err != nil {
		return err
	}
	svc.applyState(d, reply, crlChanged)
	return nil
}

// syncRound syncs with every other trusted device of the account and
// pushes the account record to contacts waiting for it. It reports whether
// everything succeeded.
func (svc *Service) syncRound(ctx context.Context) bool {
	for _, d := range svc.tellTargets() {
		cctx, cancel := context.WithTimeout(ctx, syncTimeout)
		if err := svc.syncWith(cctx, d, true); err != nil {
			svc.Log.Debug("revoked device not told yet", "device", d, "err", err)
		} else if err := svc.Store.Queue().DoneTell(d); err != nil {
			svc.Log.Warn("revoked device told but not dequeued", "device", d, "err", err)
		}
		cancel()
	}
	if svc.CheckNotRevoked() != nil {
		return true // a revoked device no longer acts for the account
	}
	peers, err := svc.otherDevices()
	if err != nil {
		return false
	}
	var mu sync.Mutex
	ok := true
	var wg sync.WaitGroup
	for _, d := range peers {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, syncTimeout)
			defer cancel()
			start := time.Now()
			err := svc.syncWith(cctx, d, false)
			svc.Log.Debug("sync with device", "device", d, "took", time.Since(start), "err", err)
			if err != nil {
				mu.Lock()
				ok = false
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	svc.pushRecords(ctx)
	return ok && len(svc.pushTargets()) == 0 && len(svc.tellTargets()) == 0
}

// otherDevices are the account's trusted devices other than this one.
func (svc *Service) otherDevices() ([]pcrypto.DeviceID, error) {
	active, err := svc.ActiveDevices()
	if err != nil {
		return nil, err
	}
	var out []pcrypto.DeviceID
	for _, dc := range active {
		if dc.Device != svc.ID.DeviceCert.Device {
			out = append(out, dc.Device)
		}
	}
	return out, nil
}

// localPending reports whether there are local changes to send and devices
// to send them to.
func (svc *Service) localPending() bool {
	others, err := svc.otherDevices()
	if err != nil || len(others) == 0 {
		return false
	}
	p, err := svc.Store.SyncPending(service.Names(service.AccountSettings))
	return err == nil && p
}

// waitDHT waits (bounded) until the DHT has peers.
func (svc *Service) waitDHT(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for svc.DHT.RoutingTable().Size() == 0 && time.Now().Before(deadline) {
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// syncLoop keeps the account's devices in sync: a first round before the
// account record is published (so a device that was offline adopts new
// revocations and devices before it publishes), then a round whenever a
// local change appears, something kicks it, a failed round is due for a
// retry, or syncInterval passed (which also checks the account record in
// the DHT).
func (svc *Service) syncLoop(ctx context.Context) {
	svc.devs.init()
	svc.syncStartup(ctx)
	poll := time.NewTicker(syncPollInterval)
	defer poll.Stop()
	full := time.NewTicker(syncInterval)
	defer full.Stop()
	var retryAt time.Time
	delay := syncRetryMin
	for {
		select {
		case <-ctx.Done():
			return
		case <-svc.devs.kick:
		case <-full.C:
			cctx, cancel := context.WithTimeout(ctx, svc.o.LookupTimeout)
			svc.checkOwnRecord(cctx)
			cancel()
		case <-poll.C:
			if svc.devs.recheckDue(time.Now()) {
				cctx, cancel := context.WithTimeout(ctx, svc.o.LookupTimeout)
				svc.checkOwnRecord(cctx)
				cancel()
			}
			due := !retryAt.IsZero() && !time.Now().Before(retryAt)
			if !due && !svc.localPending() {
				continue
			}
		}
		if svc.syncRound(ctx) {
			retryAt, delay = time.Time{}, syncRetryMin
			continue
		}
		retryAt = time.Now().Add(delay)
		delay = min(2*delay, syncInterval)
	}
}

// syncStartup runs the first round (only when the account has other
// devices) and then releases the publish loop.
func (svc *Service) syncStartup(ctx context.Context) {
	defer svc.devs.markReady()
	others, err := svc.otherDevices()
	if err != nil || len(others) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, syncStartupLimit)
	defer cancel()
	svc.waitDHT(ctx, syncStartupLimit/2)
	lctx, lcancel := context.WithTimeout(ctx, svc.o.LookupTimeout)
	svc.checkOwnRecord(lctx)
	lcancel()
	svc.syncRound(ctx)
}

// takePresenceKey takes the account's presence key from a trusted device
// when it is newer than the one held.
func (svc *Service) takePresenceKey(from pcrypto.DeviceID, m *syncMsg) {
	if m.PresenceGen == 0 {
		return
	}
	if len(m.PresenceKey) != store.PresenceKeyLen {
		svc.Log.Warn("presence key from another device refused", "from", from, "len", len(m.PresenceKey))
		return
	}
	k := store.PresenceKey{Gen: m.PresenceGen}
	copy(k.Key[:], m.PresenceKey)
	taken, err := svc.pres.TakePresenceKey(k)
	if err != nil {
		svc.Log.Error("storing the presence key from another device", "from", from, "err", err)
		return
	}
	if taken {
		svc.Log.Info("took the account's presence key from another device", "from", from, "generation", k.Gen)
	}
}
