package link

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/store"

	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p/core/network"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
)

// This file is the approving device's side of linking: ApproveLink dials
// the new device named in a link code and opens a session; ConfirmLink
// (after the user compared the SAS) issues the certificate and sends the
// account.

// linkSession is a link session waiting for the user's SAS confirmation.
type linkSession struct {
	id      string
	code    *LinkCode
	codeID  [32]byte
	c       *linkConn
	device  pcrypto.DeviceID
	name    string
	sas     string
	nonceA  []byte
	nonceN  []byte
	expires time.Time
	timer   *time.Timer
	admin   bool // the new device gets the account key
	wrong   int  // wrong SAS entries so far
}

// maxSASTries is how many wrong SAS entries end a session on the approver.
const maxSASTries = 3

func (s *linkSession) info(state string) *apitype.LinkSession {
	role := account.RoleMember
	if s.admin {
		role = account.RoleAdmin
	}
	return &apitype.LinkSession{Session: s.id, State: state, SAS: s.sas, DeviceID: s.device.String(), DeviceName: s.name, Expires: s.expires, Role: role}
}

// close ends the session's stream, telling the new device why when err is
// not nil, and wipes its secrets.
func (s *linkSession) close(err error) {
	s.timer.Stop()
	if err != nil {
		s.c.fail(err)
	}
	_ = s.c.s.Close()
	clear(s.code.Secret[:])
}

// ApproveLink acts on a link code shown by a new device. Without a SAS it
// dials the device, proves knowledge of the code's secret, and returns the
// session with the SAS for the user to compare with the one the new device
// shows; the transfer waits for ConfirmLink. With a SAS, it confirms (the
// pending session of the code, or one it opens first).
func (svc *Service) ApproveLink(ctx context.Context, req apitype.LinkApprove) (*apitype.LinkSession, error) {
	code, err := ParseLinkCode(req.Code)
	if err != nil {
		return nil, err
	}
	if err := svc.devs.CheckNotRevoked(); err != nil {
		return nil, err
	}
	if !svc.ID.IsAdmin() {
		return nil, account.NotAdmin(svc.Store, "approve a link (a new device needs a certificate signed with the account key)")
	}
	if s := svc.sessions.sessionByCode(code.codeID()); s != nil {
		if req.SAS == "" {
			return s.info(apitype.LinkStateConfirm), nil
		}
		return svc.confirmLink(ctx, s.id, req.SAS, false)
	}
	if err := svc.admitCode(code); err != nil {
		return nil, err
	}
	s, err := svc.openLinkSession(ctx, code, req.Admin)
	if err != nil {
		return nil, err
	}
	if req.SAS != "" {
		return svc.confirmLink(ctx, s.id, req.SAS, false)
	}
	return s.info(apitype.LinkStateConfirm), nil
}

// ConfirmLink finishes a link session: when the SAS the user typed matches
// the session's, it issues the new device's certificate, sends it with the
// account archive (encrypted with a key from the link secret), waits for
// the new device's acknowledgement, adds the device to the account and
// republishes the account record. A wrong SAS or Cancel ends the session
// and tells the new device why.
func (svc *Service) ConfirmLink(ctx context.Context, req apitype.LinkConfirm) (*apitype.LinkSession, error) {
	return svc.confirmLink(ctx, req.Session, req.SAS, req.Cancel)
}

// admitCode checks a code before dialing its device.
func (svc *Service) admitCode(code *LinkCode) error {
	now := svc.Now()
	if svc.sessions.codeUsed(code.codeID(), now) {
		return fmt.Errorf("%w: this code already linked a device; ask the new device for a new one", ErrLinkUsed)
	}
	if !now.Before(code.Expires) {
		return fmt.Errorf("%w at %s; ask the new device for a new code", ErrLinkExpired, code.Expires.Format(time.TimeOnly))
	}
	if code.Device == svc.ID.DeviceCert.Device {
		return fmt.Errorf("%w: that is this device's own code", service.ErrInvalidInput)
	}
	certs, err := svc.Store.DeviceCerts()
	if err != nil {
		return err
	}
	if _, ok := certs[code.Device]; ok {
		return fmt.Errorf("%w: device %s is already a device of this account", service.ErrConflict, code.Device.Short())
	}
	active, err := svc.devs.ActiveDevices()
	if err != nil {
		return err
	}
	if len(active) >= records.MaxDevices {
		return fmt.Errorf("%w: the account has %d devices, the most an account record holds; revoke one first", service.ErrConflict, len(active))
	}
	return nil
}

// openLinkSession dials the new device and runs the session up to the SAS.
func (svc *Service) openLinkSession(ctx context.Context, code *LinkCode, admin bool) (*linkSession, error) {
	ctx, cancel := context.WithTimeout(ctx, linkIOTimeout)
	defer cancel()
	ctx = network.WithAllowLimitedConn(ctx, "link")
	if err := svc.Host.Connect(ctx, code.peerInfo()); err != nil {
		return nil, fmt.Errorf("%w %s (is it still waiting for approval?): %v", ErrLinkUnreachable, code.Device.Short(), err)
	}
	st, err := svc.Host.NewStream(ctx, code.peerInfo().ID, LinkProtocol)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrLinkUnreachable, code.Device.Short(), err)
	}
	_ = st.SetDeadline(time.Now().Add(linkIOTimeout))
	c := &linkConn{s: st, r: bufio.NewReader(st), phase: phaseApproverAwaitDevice}
	s := &linkSession{code: code, codeID: code.codeID(), c: c, device: code.Device, nonceA: make([]byte, linkNonceLen), admin: admin}
	fail := func(err error) (*linkSession, error) {
		st.Reset()
		return nil, err
	}
	if _, err := rand.Read(s.nonceA); err != nil {
		return fail(err)
	}
	commit := linkCommit(s.nonceA)
	err = c.write(&linkMsg{
		Type: linkHello, AccountCert: svc.ID.AccountCert.Raw(), DeviceCert: svc.ID.DeviceCert.Raw(),
		Commit: commit, Proof: linkProof(code.Secret[:], svc.ID.DeviceCert.Device, code.Device, commit),
	})
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrLinkUnreachable, err))
	}
	dm, err := c.expect()
	if err != nil {
		return fail(fmt.Errorf("the new device refused: %w", err))
	}
	s.nonceN, s.name = dm.Nonce, dm.Name
	if err := c.write(&linkMsg{Type: linkReveal, Nonce: s.nonceA}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrLinkUnreachable, err))
	}
	s.sas = linkSAS(code.Secret[:], svc.ID.DeviceCert.Device, code.Device, s.nonceA, s.nonceN)
	s.expires = time.Now().Add(linkConfirmTimeout)
	_ = st.SetDeadline(s.expires.Add(linkIOTimeout))
	idb := make([]byte, 8)
	_, _ = rand.Read(idb)
	s.id = hex.EncodeToString(idb)
	s.timer = time.AfterFunc(linkConfirmTimeout, func() {
		if svc.sessions.takeSession(s.id) != nil {
			s.close(fmt.Errorf("%w: the SAS was not confirmed on the approving device within %v", ErrLinkSAS, linkConfirmTimeout))
			svc.Log.Info("link session timed out", "device", s.device)
		}
	})
	if !svc.sessions.addSession(s) {
		s.timer.Stop()
		s.c.fail(fmt.Errorf("%w: the approving device is already linking with this code", ErrLinkInUse))
		return fail(fmt.Errorf("%w: a session for this code is already open here", ErrLinkInUse))
	}
	svc.Log.Info("link session open: compare the SAS", "device", s.device, "name", s.name)
	svc.Events.Publish(apitype.Event{Type: apitype.EventLinkSAS, Time: svc.Now(), Device: s.device.String(), Message: s.sas})
	return s, nil
}

// confirmLink confirms (or cancels) a pending session.
func (svc *Service) confirmLink(ctx context.Context, id, sas string, cancel bool) (*apitype.LinkSession, error) {
	s := svc.sessions.takeSession(id)
	if s == nil {
		return nil, fmt.Errorf("%w: %q (it may have timed out; sessions wait %v for confirmation)", ErrNoLinkSession, id, linkConfirmTimeout)
	}
	if cancel {
		s.close(fmt.Errorf("%w: the user cancelled on the approving device", ErrLinkSAS))
		return nil, fmt.Errorf("%w: cancelled", ErrLinkSAS)
	}
	want, got := normalizeSAS(s.sas), normalizeSAS(sas)
	if subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		s.wrong++
		if left := maxSASTries - s.wrong; left > 0 && svc.sessions.addSession(s) {
			// A typo: the session stays open for another try.
			return nil, fmt.Errorf("%w: %q is not the SAS of this session; nothing was sent; %d tries left (parley link approve CODE --sas DIGITS, with the digits the new device shows); if the new device shows another SAS than this device did, someone else may be in the middle: cancel", ErrLinkSAS, sas, left)
		}
		s.close(fmt.Errorf("%w: the SAS typed on the approving device did not match %d times", ErrLinkSAS, s.wrong))
		return nil, fmt.Errorf("%w: %q is not the SAS of this session; nothing was sent and the session is closed after %d wrong entries; if the new device shows another SAS than this device did, someone else may be in the middle", ErrLinkSAS, sas, s.wrong)
	}
	s.timer.Stop()
	err := svc.transferAccount(ctx, s)
	if err != nil {
		s.close(err)
		return nil, err
	}
	s.close(nil)
	return s.info(apitype.LinkStateLinked), nil
}

// transferAccount issues the certificate, records the new device, and sends
// it the certificate with the archive.
//
// The device is stored before the transfer is sent, not after its `done`:
// from the transfer on, the new device can act for the account, and a crash
// of this device before it stored the certificate would leave the new one
// unknown here, refused by sync and dropped from the account record this
// device republishes. Its key is the one the user approved by comparing
// the SAS. When the transfer cannot be sent, or the new device answers
// that it refused it, the certificate is removed again; when the new
// device goes silent after the transfer, it stays (the device may hold the
// account), and the error says how to revoke it.
func (svc *Service) transferAccount(ctx context.Context, s *linkSession) error {
	now := svc.Now()
	pub, err := s.device.PublicKey()
	if err != nil {
		return err
	}
	name := s.name
	if name == "" {
		name = "device"
	}
	ak := svc.ID.AccountKey()
	if ak == nil {
		return account.NotAdmin(svc.Store, "link a device")
	}
	dc, err := pcrypto.IssueDeviceCert(ak, svc.ID.AccountCert, pub, name, pcrypto.CertOptions{NotBefore: now.Add(-time.Hour)})
	if err != nil {
		return fmt.Errorf("link: device certificate: %w", err)
	}
	pass := linkArchivePassphrase(s.code.Secret[:], svc.ID.DeviceCert.Device, s.device, s.nonceA, s.nonceN)
	defer clear(pass)
	archive, err := svc.linkArchive(dc, pass, s.admin)
	if err != nil {
		return err
	}
	if err := s.c.userConfirmed(); err != nil {
		return err
	}
	dev := dc.Device
	if err := svc.Store.PutDeviceCert(dev, dc.Raw()); err != nil {
		return err
	}
	_ = svc.Store.NoteDeviceLinked(dev, now)
	forget := func() { _ = svc.Store.DeleteDeviceCert(dev) }
	// The account record that lists the new device (as an admin when it
	// gets the key): a member cannot sign one, so it starts with this.
	var promote []pcrypto.DeviceID
	if s.admin {
		promote = []pcrypto.DeviceID{dev}
	}
	rec, err := svc.devs.SignAccountRecord(now, promote)
	if err != nil {
		forget()
		return fmt.Errorf("link: account record: %w", err)
	}
	// The new device's user confirms too before it stores the account.
	_ = s.c.s.SetDeadline(time.Now().Add(linkConfirmTimeout + linkIOTimeout))
	if err := s.c.write(&linkMsg{Type: linkTransfer, DeviceCert: dc.Raw(), Archive: archive, Record: rec}); err != nil {
		forget()
		return fmt.Errorf("%w: %v", ErrLinkUnreachable, err)
	}
	if _, err := s.c.expect(); err != nil {
		if s.c.peerRefused {
			forget()
			return fmt.Errorf("the new device did not take the account: %w", err)
		}
		svc.sessions.markUsed(s.codeID, s.code.Expires)
		svc.devs.AccountChanged()
		return fmt.Errorf("the new device did not confirm that it took the account (%w); it is listed as device %s: if it does not come up, revoke it with parley devices revoke", err, dc.Device.Short())
	}
	svc.sessions.markUsed(s.codeID, s.code.Expires)
	svc.Log.Info("device linked", "device", dc.Device, "name", name)
	svc.Events.Publish(apitype.Event{Type: apitype.EventDeviceLinked, Time: now, Device: dev.String(), Message: name})
	svc.devs.AccountChanged()
	return nil
}

// linkArchive builds the account archive for a new device (its own
// certificate included) and encrypts it with the session's passphrase.
func (svc *Service) linkArchive(dc *pcrypto.DeviceCert, pass []byte, admin bool) ([]byte, error) {
	raw, err := svc.Store.Identity()
	if err != nil {
		return nil, err
	}
	defer clear(raw.AccountKeySeed)
	defer clear(raw.DeviceKeySeed)
	certs, err := svc.Store.DeviceCerts()
	if err != nil {
		return nil, err
	}
	crl, _, err := svc.Store.CRL()
	if err != nil {
		return nil, err
	}
	contacts, err := svc.Store.Contacts()
	if err != nil {
		return nil, err
	}
	settings := map[string]string{}
	for _, k := range service.AccountSettings {
		if v, ok, err := svc.Store.Setting(string(k)); err == nil && ok {
			settings[string(k)] = v
		}
	}
	a := &pcrypto.Archive{AccountCert: raw.AccountCert, CRL: crl, Settings: settings, Created: svc.Now().UTC()}
	if admin {
		a.AccountKeySeed = raw.AccountKeySeed // only an admin device gets the account key
	}
	for _, der := range certs {
		a.DeviceCerts = append(a.DeviceCerts, der)
	}
	a.DeviceCerts = append(a.DeviceCerts, dc.Raw())
	a.Contacts = linkContacts(contacts)
	// The account's presence key: the new device seals its presence
	// under it, and opens its own devices' records.
	pk, err := svc.Store.PresenceKey()
	if err != nil {
		return nil, fmt.Errorf("link: presence key: %w", err)
	}
	a.PresenceKey, a.PresenceGen = pk.Key[:], pk.Gen
	out, err := a.Encrypt(pass, linkKDF)
	if err != nil {
		return nil, fmt.Errorf("link: archive: %w", err)
	}
	return out, nil
}

// linkContactBudget bounds the contacts a link transfer carries (their
// JSON, before encryption and base64): with the device certificates and
// the CRL it keeps the transfer within one link frame however many
// contacts the account has. The new device gets the rest from the first
// sync with the approver, which carries any amount in frames.
const linkContactBudget = 512 << 10

// linkContacts picks the contacts a link transfer carries, within
// linkContactBudget: accepted and blocked contacts first (the ones calls and
// refusals depend on), then the others, most recently changed first.
func linkContacts(cs []store.Contact) []pcrypto.ArchiveContact {
	rank := func(s store.ContactState) int {
		switch s {
		case store.Accepted:
			return 0
		case store.Blocked:
			return 1
		}
		return 2
	}
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b store.Contact) int {
		if r := rank(a.State) - rank(b.State); r != 0 {
			return r
		}
		return b.Updated.Compare(a.Updated)
	})
	var out []pcrypto.ArchiveContact
	size := 0
	for _, c := range cs {
		ac := pcrypto.ArchiveContact{AccountID: c.AccountID, Name: c.Name, State: string(c.State), Updated: c.Updated}
		size += len(c.Name) + 160 // the ID, state, time and JSON around them
		if size > linkContactBudget {
			break
		}
		out = append(out, ac)
	}
	return out
}

// ---- session bookkeeping ----

func (d *sessionTable) sessionByCode(id [32]byte) *linkSession {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.sessions {
		if s.codeID == id {
			return s
		}
	}
	return nil
}

// addSession registers s unless a session for its code exists.
func (d *sessionTable) addSession(s *linkSession) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.sessions {
		if o.codeID == s.codeID {
			return false
		}
	}
	if d.sessions == nil {
		d.sessions = map[string]*linkSession{}
	}
	d.sessions[s.id] = s
	return true
}

// takeSession removes and returns a session (nil when unknown), so that
// exactly one caller finishes it.
func (d *sessionTable) takeSession(id string) *linkSession {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sessions[id]
	delete(d.sessions, id)
	return s
}

// markUsed remembers a code that linked a device until it expires.
func (d *sessionTable) markUsed(id [32]byte, expires time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.usedCodes == nil {
		d.usedCodes = map[[32]byte]time.Time{}
	}
	d.usedCodes[id] = expires
}

func (d *sessionTable) codeUsed(id [32]byte, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, exp := range d.usedCodes {
		if now.After(exp.Add(time.Minute)) {
			delete(d.usedCodes, k)
		}
	}
	_, ok := d.usedCodes[id]
	return ok
}
