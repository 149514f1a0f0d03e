package devices

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/wire"
	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// PromoteProtocol carries the account key from an admin device to a member
// device of the same account that the admin's user chose to promote. The
// stream is a libp2p stream: Noise-encrypted and authenticated at both ends
// by the device keys, which the account certified. See docs/identity.md,
// "Promoting a member".
const PromoteProtocol = "/parley/promote/1.0.0"

// maxPromoteMessage bounds a promote message (a seed and a short reply).
const maxPromoteMessage = 4 << 10

// promoteMsg is the request (Seed set) or the reply (OK or Error).
type promoteMsg struct {
	V       int               `json:"v"`
	Account pcrypto.AccountID `json:"account"`
	Seed    []byte            `json:"seed,omitempty"`
	OK      bool              `json:"ok,omitempty"`
	Error   string            `json:"error,omitempty"`
}

func writePromote(w io.Writer, m *promoteMsg) error {
	m.V = 1
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	defer clear(body)
	b, err := wire.AppendFrame(nil, body, maxPromoteMessage)
	if err != nil {
		return err
	}
	defer clear(b)
	_, err = w.Write(b)
	return err
}

// decodePromote parses one promote message body.
func decodePromote(body []byte) (*promoteMsg, error) {
	var m promoteMsg
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("malformed promote message: %v", err)
	}
	if m.V != 1 || m.Account.IsZero() || len(m.Error) > 512 || (len(m.Seed) != 0 && len(m.Seed) != 32) {
		return nil, errors.New("malformed promote message")
	}
	return &m, nil
}

func readPromote(r io.Reader) (*promoteMsg, error) {
	body, err := wire.ReadFrame(bufio.NewReader(io.LimitReader(r, maxPromoteMessage+16)), maxPromoteMessage)
	if err != nil {
		return nil, err
	}
	defer clear(body)
	return decodePromote(body)
}

// PromoteDevice makes a member device an admin: it sends it the account key
// over the authenticated stream, and once the device confirms it stored the
// key, signs an account record that lists it as an admin. Only an admin can
// promote, and only a trusted (certified, not revoked) device of the account.
func (svc *Service) PromoteDevice(ctx context.Context, device string) (*apitype.Device, error) {
	if err := svc.CheckNotRevoked(); err != nil {
		return nil, err
	}
	ak := svc.ID.AccountKey()
	if ak == nil {
		return nil, account.NotAdmin(svc.Store, "promote a device")
	}
	dc, err := svc.findDevice(device)
	if err != nil {
		return nil, err
	}
	if dc.Device == svc.ID.DeviceCert.Device {
		return nil, fmt.Errorf("%w: this device is an admin already", service.ErrConflict)
	}
	if _, err := svc.trustedDevice(dc.Device); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	pid := peer.ID(dc.Device)
	if !svc.pres.Connected(pid) {
		p, err := svc.pres.ResolvePresence(ctx, svc.ID.AccountCert.ID, dc.Device)
		if err != nil {
			return nil, fmt.Errorf("device %s is not reachable (it must be online to be promoted): %w", dc.Device.Short(), err)
		}
		if err := svc.Host.Connect(ctx, peer.AddrInfo{ID: pid, Addrs: p.Addrs}); err != nil {
			return nil, fmt.Errorf("device %s is not reachable (it must be online to be promoted): %w", dc.Device.Short(), err)
		}
	}
	s, err := svc.Host.NewStream(network.WithAllowLimitedConn(ctx, "promote"), pid, PromoteProtocol)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", dc.Device.Short(), err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	seed := ak.Seed()
	err = writePromote(s, &promoteMsg{Account: svc.ID.AccountCert.ID, Seed: seed})
	clear(seed)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("device %s: %w", dc.Device.Short(), err)
	}
	reply, err := readPromote(s)
	if err != nil {
		return nil, fmt.Errorf("device %s did not confirm the promotion: %w", dc.Device.Short(), err)
	}
	if !reply.OK {
		return nil, fmt.Errorf("%w: device %s refused the promotion: %s", service.ErrConflict, dc.Device.Short(), reply.Error)
	}
	if _, err := svc.pres.SignAccountRecord(svc.Now(), []pcrypto.DeviceID{dc.Device}); err != nil {
		return nil, fmt.Errorf("device %s holds the account key now, but the account record could not be signed: %w", dc.Device.Short(), err)
	}
	svc.Log.Info("device promoted to admin", "device", dc.Device, "name", dc.Name)
	svc.Events.Publish(apitype.Event{Type: apitype.EventDevicePromoted, Time: svc.Now(), Device: dc.Device.String(), Message: dc.Name})
	svc.AccountChanged()
	ds, err := svc.Devices()
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.DeviceID == dc.Device.String() {
			return &d, nil
		}
	}
	return nil, fmt.Errorf("%w: device %s", ErrUnknownDevice, dc.Device.Short())
}

// handlePromoteStream takes the account key from a trusted admin device of
// our account.
func (svc *Service) handlePromoteStream(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	from := pcrypto.DeviceID(s.Conn().RemotePeer())
	m, err := readPromote(s)
	if err != nil {
		s.Reset()
		return
	}
	defer clear(m.Seed)
	err = svc.takePromotion(from, m)
	reply := &promoteMsg{Account: svc.ID.AccountCert.ID, OK: err == nil}
	if err != nil {
		svc.Log.Warn("promotion refused", "from", from, "err", err)
		reply.Error = err.Error()
	}
	_ = writePromote(s, reply)
}

// takePromotion checks and stores a promotion.
func (svc *Service) takePromotion(from pcrypto.DeviceID, m *promoteMsg) error {
	if m.Account != svc.ID.AccountCert.ID {
		return fmt.Errorf("%w: the promotion is for another account", ErrUnknownDevice)
	}
	if err := svc.CheckNotRevoked(); err != nil {
		return err
	}
	if _, err := svc.trustedDevice(from); err != nil {
		return err
	}
	if svc.ID.IsAdmin() {
		return errors.New("this device is an admin already")
	}
	ak, err := pcrypto.AccountKeyFromSeed(m.Seed)
	if err != nil {
		return err
	}
	if ak.ID() != svc.ID.AccountCert.ID {
		ak.Wipe()
		return errors.New("the key sent is not this account's key")
	}
	if err := svc.Store.PromoteIdentity(m.Seed); err != nil {
		ak.Wipe()
		return err
	}
	if err := svc.ID.SetAccountKey(ak); err != nil {
		return err
	}
	svc.Log.Info("this device is now an admin of the account", "by", from)
	svc.Events.Publish(apitype.Event{Type: apitype.EventDevicePromoted, Time: svc.Now(), Device: svc.ID.DeviceCert.Device.String()})
	return nil
}

// SignAccountRecord returns the account record as the presence service
// signs it (see presence.Service.SignAccountRecord); link uses it to hand a
// new device a record that lists it.
func (svc *Service) SignAccountRecord(now time.Time, promote []pcrypto.DeviceID) ([]byte, error) {
	return svc.pres.SignAccountRecord(now, promote)
}
