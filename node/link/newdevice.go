package link

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/presence"

	"github.com/parleyhq/parley/node/service"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/internal/records"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/store"
)

// This file is the new device's side of linking: NewLinkRequest runs a
// temporary libp2p host with the new device's key, prints a link code and
// waits for a device of the account to approve it (see docs/protocol.md,
// "Linking devices"). The approving side is in linkapprove.go.

// Defaults of LinkOptions.
const (
	DefaultLinkTTL         = 5 * time.Minute
	DefaultLinkAttempts    = 3
	defaultRelayWait       = 5 * time.Second
	maxLinkRelayAddrs      = 2
	maxArchiveKDFMemoryKiB = 64 << 10 // a link archive is sealed with linkKDF; refuse costly ones
)

// LinkOptions configure NewLinkRequest. Zero values mean the defaults.
type LinkOptions struct {
	// account.AccountOptions name the device and seal its keys, as for InitAccount.
	account.AccountOptions
	// Bootstraps are the bootstrap servers' multiaddrs (with /p2p/ID). The
	// new device connects to them and reserves a relay slot on each, so an
	// approving device behind another NAT can reach it.
	Bootstraps []string
	// ListenAddrs are the temporary host's listen addresses. Defaults to
	// TCP and QUIC on all IPv4 interfaces.
	ListenAddrs []string
	// RelayOnly listens on no address of its own: the device is reachable
	// only through the bootstraps' circuit relays.
	RelayOnly bool
	// TTL is how long the code is valid. Defaults to 5 minutes.
	TTL time.Duration
	// MaxAttempts is how many failed attempts end the request. Defaults to 3.
	MaxAttempts int
	// RelayWait bounds connecting to bootstraps and reserving relay slots.
	// Defaults to 5s.
	RelayWait time.Duration
	// Logger receives logs. Defaults to slog.Default().
	Logger *slog.Logger
	// ExpectAccount, when not zero, is the account the user means to join:
	// an approving device of any other account is refused (someone who saw
	// the code cannot pull the device into their own account).
	ExpectAccount pcrypto.AccountID
	// Confirm is asked, once the SAS is known (with the LinkEventSAS event:
	// the account joined, its name and the SAS), whether the user confirms
	// on this device too; nothing is stored unless it returns nil. It runs
	// on its own goroutine while the approving device's user compares the
	// SAS, and should return within linkConfirmTimeout. AutoConfirm
	// confirms without asking (parleyd init --link --yes). With neither,
	// every session is refused.
	Confirm     func(LinkEvent) error
	AutoConfirm bool
	// OnEvent, when set, is called for each step a user should see: an
	// approving device proved the secret (with the SAS to compare), an
	// attempt failed (with the reason), the device was linked. It is
	// called from the session's goroutine and must not block for long.
	OnEvent func(LinkEvent)
}

// LinkEvent is one step of a link request, for the new device's screen.
type LinkEvent struct {
	// Type is LinkEventSAS, LinkEventFailed or LinkEventLinked.
	Type string
	// Account is the account the approving device acts for.
	Account string
	// AccountName is the account certificate's display name (may be empty).
	AccountName string
	// Approver is the approving device's ID.
	Approver string
	// SAS is the short authentication string of the session (LinkEventSAS).
	SAS string
	// Err says why an attempt failed (LinkEventFailed).
	Err error
	// AttemptsLeft is how many failed attempts remain (LinkEventFailed).
	AttemptsLeft int
}

// Link event types.
const (
	LinkEventSAS    = "sas"
	LinkEventFailed = "failed"
	LinkEventLinked = "linked"
)

// LinkRequest is a new device waiting to be linked. Create it with
// NewLinkRequest, show Code, call Wait, then Close.
type LinkRequest struct {
	o    LinkOptions
	dir  string
	name string
	log  *slog.Logger
	st   *store.Store
	dk   *pcrypto.DeviceKey
	h    host.Host
	code *LinkCode

	finished chan struct{} // closed when the request succeeded or died

	mu       sync.Mutex // guards the following fields
	busy     bool       // a session holds the code
	failures int
	expired  bool // the TTL passed while a session was running
	done     bool
	result   *apitype.Identity
	err      error

	expiry    *time.Timer
	closeOnce sync.Once
}

// NewLinkRequest prepares dir for a new device of an existing account: it
// claims the data directory (it must hold no identity), makes the device
// key, starts a temporary libp2p host with it, connects to the bootstraps
// and reserves relay slots, and makes the one-time link code.
func NewLinkRequest(dir string, o LinkOptions) (r *LinkRequest, err error) {
	if o.TTL <= 0 {
		o.TTL = DefaultLinkTTL
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultLinkAttempts
	}
	if o.RelayWait <= 0 {
		o.RelayWait = defaultRelayWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.ListenAddrs) == 0 {
		o.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	name, err := o.ValidDeviceName()
	if err != nil {
		return nil, err
	}
	bs, err := presence.ParseBootstraps(o.Bootstraps)
	if err != nil {
		return nil, err
	}
	st, err := account.OpenEmpty(dir, o.AccountOptions)
	if err != nil {
		return nil, err
	}
	r = &LinkRequest{o: o, dir: dir, name: name, st: st, finished: make(chan struct{})}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.dk, err = pcrypto.NewDeviceKey(nil); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	r.log = o.Logger.With("device", r.dk.ID().Short(), "component", "link")
	if err := r.startHost(); err != nil {
		return nil, err
	}
	relays := r.reserveRelays(bs)
	r.code = &LinkCode{Device: r.dk.ID(), Expires: o.Clock().Add(o.TTL).Truncate(time.Second), Addrs: codeAddrs(relays, r.h.Addrs())}
	if _, err := rand.Read(r.code.Secret[:]); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	if len(r.code.Addrs) == 0 {
		return nil, fmt.Errorf("link: %w: the device has no address to put in the code (no listen address and no relay reservation)", ErrLinkUnreachable)
	}
	r.h.SetStreamHandler(LinkProtocol, r.handleStream)
	r.expiry = time.AfterFunc(o.TTL, r.expire)
	r.log.Info("waiting to be linked", "addrs", r.code.Addrs, "expires", r.code.Expires)
	return r, nil
}

// startHost starts the temporary libp2p host with the new device's key.
func (r *LinkRequest) startHost() error {
	sk, err := p2pcrypto.UnmarshalEd25519PrivateKey(r.dk.Ed25519())
	if err != nil {
		return fmt.Errorf("link: device key: %w", err)
	}
	opts := []libp2p.Option{libp2p.Identity(sk), libp2p.EnableRelay(), libp2p.EnableHolePunching(), libp2p.UserAgent("parleyd-link")}
	if r.o.RelayOnly {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrStrings(r.o.ListenAddrs...))
	}
	if r.h, err = libp2p.New(opts...); err != nil {
		return fmt.Errorf("link: libp2p host: %w", err)
	}
	return nil
}

// reserveRelays connects to the bootstraps and reserves a relay slot on
// each, concurrently; it returns the circuit addresses through them.
func (r *LinkRequest) reserveRelays(bs []peer.AddrInfo) []ma.Multiaddr {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.RelayWait)
	defer cancel()
	var mu sync.Mutex
	var out []ma.Multiaddr
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Go(func() {
			if err := r.h.Connect(ctx, b); err != nil {
				r.log.Warn("bootstrap unreachable", "bootstrap", b.ID, "err", err)
				return
			}
			if _, err := client.Reserve(ctx, r.h, b); err != nil {
				r.log.Warn("no relay slot", "bootstrap", b.ID, "err", err)
				return
			}
			circuit := ma.StringCast("/p2p/" + b.ID.String() + "/p2p-circuit")
			mu.Lock()
			for _, a := range b.Addrs {
				out = append(out, a.Encapsulate(circuit))
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// codeAddrs picks the addresses for a link code: up to two relay addresses
// (they work across NATs), then direct ones, public before private before
// loopback, at most four in all.
func codeAddrs(relays, direct []ma.Multiaddr) []ma.Multiaddr {
	out := slices.Clone(relays[:min(len(relays), maxLinkRelayAddrs)])
	rank := func(a ma.Multiaddr) int {
		switch {
		case manet.IsIPLoopback(a):
			return 2
		case manet.IsPublicAddr(a):
			return 0
		}
		return 1
	}
	var ds []ma.Multiaddr
	for _, a := range direct {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		ds = append(ds, a)
	}
	slices.SortStableFunc(ds, func(a, b ma.Multiaddr) int { return rank(a) - rank(b) })
	for _, a := range ds {
		if len(out) == maxLinkCodeAddrs {
			break
		}
		out = append(out, a)
	}
	return out
}

// Code is the link code to show (and to put in a QR code).
func (r *LinkRequest) Code() string { return r.code.String() }

// Expires is when the code stops working.
func (r *LinkRequest) Expires() time.Time { return r.code.Expires }

// DeviceID is the new device's ID.
func (r *LinkRequest) DeviceID() pcrypto.DeviceID { return r.dk.ID() }

// Addrs are the addresses in the code.
func (r *LinkRequest) Addrs() []ma.Multiaddr { return slices.Clone(r.code.Addrs) }

// Wait blocks until the device is linked (it returns the new identity),
// the code expired (ErrLinkExpired), too many attempts failed
// (ErrLinkAttempts), or ctx is done.
func (r *LinkRequest) Wait(ctx context.Context) (*apitype.Identity, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.finished:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.result, r.err
}

// Done is closed when the request succeeded or ended (see Wait).
func (r *LinkRequest) Done() <-chan struct{} { return r.finished }

// Close stops the host, releases the data directory and wipes the device
// key. A request that did not succeed leaves the directory without an
// identity.
func (r *LinkRequest) Close() error {
	var err error
	r.closeOnce.Do(func() {
		if r.expiry != nil {
			r.expiry.Stop()
		}
		r.finish(nil, fmt.Errorf("link: %w: closed", ErrLinkRefused))
		var errs []error
		if r.h != nil {
			errs = append(errs, r.h.Close())
		}
		errs = append(errs, r.st.Close())
		if r.dk != nil {
			r.dk.Wipe()
		}
		err = errors.Join(errs...)
	})
	return err
}

// finish ends the request once with a result or an error.
func (r *LinkRequest) finish(id *apitype.Identity, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finishLocked(id, err)
}

func (r *LinkRequest) finishLocked(id *apitype.Identity, err error) {
	if r.done {
		return
	}
	r.done, r.result, r.err = true, id, err
	close(r.finished)
}

// expire ends the request when the TTL passed, unless a session that began
// in time is still running (it may finish; the request ends after it).
func (r *LinkRequest) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy {
		r.expired = true
		return
	}
	r.finishLocked(nil, fmt.Errorf("link: %w at %s", ErrLinkExpired, r.code.Expires.Format(time.TimeOnly)))
}

func (r *LinkRequest) event(ev LinkEvent) {
	if r.o.OnEvent != nil {
		r.o.OnEvent(ev)
	}
}

// claim admits a session for the code, or says why not. It is called once
// the approver proved it knows the secret.
func (r *LinkRequest) claim() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.done && r.result != nil:
		return fmt.Errorf("%w: this device is already linked", ErrLinkUsed)
	case r.done && errors.Is(r.err, ErrLinkAttempts):
		return fmt.Errorf("%w: the new device stopped accepting this code", ErrLinkAttempts)
	case r.done:
		return r.err
	case !r.o.Clock().Before(r.code.Expires):
		r.finishLocked(nil, fmt.Errorf("link: %w at %s", ErrLinkExpired, r.code.Expires.Format(time.TimeOnly)))
		return fmt.Errorf("%w at %s", ErrLinkExpired, r.code.Expires.Format(time.TimeOnly))
	case r.busy:
		return fmt.Errorf("%w: another device is linking this device right now", ErrLinkInUse)
	}
	r.busy = true
	return nil
}

// release ends an admitted session; failed, when not nil, counts it as a
// failed attempt.
func (r *LinkRequest) release(failed error, approver pcrypto.DeviceID) {
	r.mu.Lock()
	r.busy = false
	if r.expired {
		r.finishLocked(nil, fmt.Errorf("link: %w at %s", ErrLinkExpired, r.code.Expires.Format(time.TimeOnly)))
	}
	r.mu.Unlock()
	if failed != nil {
		r.countFailure(failed, approver)
	}
}

// countFailure counts a failed attempt; the last allowed one ends the
// request.
func (r *LinkRequest) countFailure(failed error, approver pcrypto.DeviceID) {
	r.mu.Lock()
	r.failures++
	left := max(r.o.MaxAttempts-r.failures, 0)
	if left == 0 {
		r.finishLocked(nil, fmt.Errorf("link: %w (%d); the last: %w", ErrLinkAttempts, r.failures, failed))
	}
	r.mu.Unlock()
	r.log.Info("link attempt failed", "approver", approver, "err", failed, "attempts_left", left)
	r.event(LinkEvent{Type: LinkEventFailed, Approver: approver.String(), Err: failed, AttemptsLeft: left})
}

// handleStream runs the new device's side of one link session.
func (r *LinkRequest) handleStream(s network.Stream) {
	defer s.Close()
	approver := pcrypto.DeviceID(s.Conn().RemotePeer())
	_ = s.SetDeadline(time.Now().Add(linkIOTimeout))
	w := &linkConn{s: s, r: bufio.NewReader(s), phase: phaseNewAwaitHello}
	hello, err := w.expect()
	if err != nil {
		w.fail(err)
		return
	}
	// A wrong proof is a failed attempt: it is what guessing looks like.
	if !hmac.Equal(hello.Proof, linkProof(r.code.Secret[:], approver, r.dk.ID(), hello.Commit)) {
		err := fmt.Errorf("%w: the approving device does not know this code's secret (mistyped or forged code)", ErrLinkProof)
		w.fail(err)
		r.countFailure(err, approver)
		return
	}
	if err := r.claim(); err != nil {
		w.fail(err)
		return
	}
	err = r.session(w, hello, approver)
	if err != nil {
		w.fail(err)
	}
	r.release(err, approver)
}

// session runs an admitted session; an error is a failed attempt.
func (r *LinkRequest) session(w *linkConn, hello *linkMsg, approver pcrypto.DeviceID) error {
	ac, adc, err := checkApprover(hello, approver, r.o.Clock())
	if err != nil {
		return err
	}
	if !r.o.ExpectAccount.IsZero() && ac.ID != r.o.ExpectAccount {
		return fmt.Errorf("%w: the approving device is of account %s, not of %s that this device expects to join; someone else may have seen the link code", ErrLinkWrongAccount, ac.ID, r.o.ExpectAccount)
	}
	nonce := make([]byte, linkNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	if err := w.write(&linkMsg{Type: linkDevice, Name: r.name, Nonce: nonce}); err != nil {
		return fmt.Errorf("%w: %v", ErrLinkRefused, err)
	}
	reveal, err := w.expect()
	if err != nil {
		return err
	}
	if !hmac.Equal(linkCommit(reveal.Nonce), hello.Commit) {
		return fmt.Errorf("%w: the approving device's nonce does not match its commitment", service.ErrInvalidInput)
	}
	sas := linkSAS(r.code.Secret[:], approver, r.dk.ID(), reveal.Nonce, nonce)
	r.log.Info("link session: compare the SAS on both devices", "approver", approver, "account", ac.ID)
	ev := LinkEvent{Type: LinkEventSAS, Account: ac.ID.String(), AccountName: ac.Name, Approver: approver.String(), SAS: sas}
	r.event(ev)
	// Both users now compare the SAS: the approver's confirmation sends the
	// transfer, this device's lets it store what arrives.
	confirmed := make(chan error, 1)
	go func() { confirmed <- r.confirm(ev) }()
	_ = w.s.SetDeadline(time.Now().Add(linkConfirmTimeout + linkIOTimeout))
	transfer, err := w.expect()
	if err != nil {
		return err
	}
	select {
	case err = <-confirmed:
	case <-time.After(linkConfirmTimeout):
		err = fmt.Errorf("%w: the SAS was not confirmed on the new device within %v", ErrLinkSAS, linkConfirmTimeout)
	}
	if err != nil {
		return err
	}
	_ = w.s.SetDeadline(time.Now().Add(linkIOTimeout))
	pass := linkArchivePassphrase(r.code.Secret[:], approver, r.dk.ID(), reveal.Nonce, nonce)
	id, err := r.complete(ac, adc, transfer, pass)
	clear(pass)
	if err != nil {
		return err
	}
	if err := w.write(&linkMsg{Type: linkDone}); err != nil {
		// The identity is stored; the approver will learn of the device
		// when it syncs. Report it but count the link as done.
		r.log.Warn("could not acknowledge the link", "err", err)
	} else {
		// Wait (bounded) for the approver to close its side: then it has
		// our acknowledgement. Finishing at once let the caller tear the
		// host down with the acknowledgement still in flight, and the
		// approver took the link for failed while this device held the
		// account.
		_ = w.s.CloseWrite()
		_ = w.s.SetReadDeadline(time.Now().Add(linkIOTimeout))
		_, _ = io.Copy(io.Discard, io.LimitReader(w.s, 64<<10))
	}
	r.finish(id, nil)
	r.event(LinkEvent{Type: LinkEventLinked, Account: ac.ID.String(), Approver: approver.String()})
	return nil
}

// confirm asks the user of this device to confirm the SAS and account.
func (r *LinkRequest) confirm(ev LinkEvent) error {
	switch {
	case r.o.AutoConfirm:
		return nil
	case r.o.Confirm == nil:
		return fmt.Errorf("%w: this device has no way to confirm the SAS (no prompt and no --yes)", ErrLinkSAS)
	}
	if err := r.o.Confirm(ev); err != nil {
		return fmt.Errorf("%w: not confirmed on the new device: %v", ErrLinkSAS, err)
	}
	return nil
}

// checkApprover verifies the approving device's certificates from its hello:
// a valid chain to the account it names, for the peer on the stream.
func checkApprover(hello *linkMsg, approver pcrypto.DeviceID, now time.Time) (*pcrypto.AccountCert, *pcrypto.DeviceCert, error) {
	ac, err := pcrypto.ParseAccountCert(hello.AccountCert)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: approver's account certificate: %v", service.ErrInvalidInput, err)
	}
	dc, err := pcrypto.ParseDeviceCert(hello.DeviceCert)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: approver's device certificate: %v", service.ErrInvalidInput, err)
	}
	if err := pcrypto.VerifyDevice(ac.ID, ac, dc, nil, now); err != nil {
		return nil, nil, fmt.Errorf("%w: approver's certificates: %v", service.ErrInvalidInput, err)
	}
	if dc.Device != approver {
		return nil, nil, fmt.Errorf("%w: the approver's certificate names another device", service.ErrInvalidInput)
	}
	return ac, dc, nil
}

// complete checks the transferred certificate and archive and stores the
// identity.
func (r *LinkRequest) complete(ac *pcrypto.AccountCert, approver *pcrypto.DeviceCert, m *linkMsg, pass []byte) (*apitype.Identity, error) {
	now := r.o.Clock()
	dc, err := pcrypto.ParseDeviceCert(m.DeviceCert)
	if err != nil {
		return nil, fmt.Errorf("%w: device certificate: %v", service.ErrInvalidInput, err)
	}
	if dc.Device != r.dk.ID() {
		return nil, fmt.Errorf("%w: the certificate is for another device", service.ErrInvalidInput)
	}
	if err := checkArchiveKDF(m.Archive); err != nil {
		return nil, err
	}
	a, err := pcrypto.DecryptArchive(m.Archive, pass)
	if err != nil {
		return nil, fmt.Errorf("%w: archive: %v", service.ErrInvalidInput, err)
	}
	defer clear(a.AccountKeySeed)
	if !slices.Equal(a.AccountCert, ac.Raw()) {
		return nil, fmt.Errorf("%w: the archive is of another account than the approver's", service.ErrInvalidInput)
	}
	var crl *pcrypto.CRL
	if len(a.CRL) > 0 {
		if crl, err = pcrypto.ParseCRL(a.CRL); err != nil {
			return nil, fmt.Errorf("%w: archive CRL: %v", service.ErrInvalidInput, err)
		}
	}
	if err := pcrypto.VerifyDevice(ac.ID, ac, approver, crl, now); err != nil {
		return nil, fmt.Errorf("%w: the approving device is not trusted by its own account: %v", service.ErrInvalidInput, err)
	}
	if err := pcrypto.VerifyDevice(ac.ID, ac, dc, crl, now); err != nil {
		return nil, fmt.Errorf("%w: new device certificate: %v", service.ErrInvalidInput, err)
	}
	state, err := account.ArchiveState(a, ac, crl, service.Names(service.AccountSettings))
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	state.DeviceCerts[dc.Device] = dc.Raw()
	var rec *records.Account
	if len(m.Record) > 0 {
		if rec, err = records.ParseAccount(records.AccountKey(ac.ID), m.Record, now); err != nil {
			return nil, fmt.Errorf("%w: account record: %v", service.ErrInvalidInput, err)
		}
		if !slices.ContainsFunc(rec.Devices, func(d *pcrypto.DeviceCert) bool { return d.Device == dc.Device }) {
			return nil, fmt.Errorf("%w: the account record does not list the new device", service.ErrInvalidInput)
		}
	}
	// One transaction: a crash leaves no identity (init --link can run
	// again) or one with the whole account.
	err = r.st.CreateAccount(store.Identity{
		AccountKeySeed: a.AccountKeySeed, AccountCert: ac.Raw(), DeviceKeySeed: r.dk.Seed(),
		DeviceCert: dc.Raw(), DeviceName: r.name, Created: now.UTC(),
	}, state)
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	_ = r.st.NoteDeviceLinked(dc.Device, now)
	if rec != nil {
		_, _ = r.st.PutOwnRecord(rec.Raw, rec.Seq)
	}
	if err := account.WritePublicCerts(r.dir, ac, dc); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	return account.Summary(r.st, r.dir)
}

// checkArchiveKDF refuses an archive whose argon2id cost exceeds what a link
// archive needs, before spending it (the sealed header holds the cost).
func checkArchiveKDF(archive []byte) error {
	if len(archive) < 18 {
		return fmt.Errorf("%w: archive truncated", service.ErrInvalidInput)
	}
	mem := uint32(archive[13])<<24 | uint32(archive[14])<<16 | uint32(archive[15])<<8 | uint32(archive[16])
	if mem > maxArchiveKDFMemoryKiB {
		return fmt.Errorf("%w: archive key derivation asks for %d KiB", service.ErrInvalidInput, mem)
	}
	return nil
}

// linkConn frames link messages on a stream, for both sides.
type linkConn struct {
	s     network.Stream
	r     *bufio.Reader
	phase phase // moved only by expect
	// peerRefused is set by expect when the peer ended the session with
	// an error message (rather than going away).
	peerRefused bool
}

func (c *linkConn) write(m *linkMsg) error {
	b, err := encodeLinkMsg(m)
	if err != nil {
		return err
	}
	if tap := linkWireTap.Load(); tap != nil {
		(*tap)(b)
	}
	_, err = c.s.Write(b)
	return err
}

func (c *linkConn) read() (*linkMsg, error) { return readLinkMsg(c.r) }

// expect reads the next message, which must be the one the session's
// phase expects (linkSteps), and moves to the next phase; an error message
// from the peer becomes the matching error.
func (c *linkConn) expect() (*linkMsg, error) {
	st, ok := linkSteps[c.phase]
	if !ok {
		return nil, fmt.Errorf("%w: nothing to read in phase %q", service.ErrInvalidInput, c.phase)
	}
	m, err := c.read()
	if err != nil {
		return nil, fmt.Errorf("%w: the other device went away: %v", ErrLinkRefused, err)
	}
	if m.Type == linkError {
		c.peerRefused = true
		return nil, linkErrorFrom(m.Code, m.Reason)
	}
	if m.Type != st.want {
		return nil, fmt.Errorf("%w: got a %s message, expected %s", service.ErrInvalidInput, m.Type, st.want)
	}
	c.phase = st.next
	return m, nil
}

// fail tells the peer why the session ends (best effort). The reason
// leaves out the sentinel's text, which the code already conveys.
func (c *linkConn) fail(err error) {
	code := linkErrorCode(err)
	reason := err.Error()
	if e, ok := linkErrors[code]; ok {
		reason = strings.TrimPrefix(reason, e.Error()+": ")
	}
	if len(reason) > 512 {
		reason = reason[:512]
	}
	_ = c.write(&linkMsg{Type: linkError, Code: code, Reason: reason})
}

// linkWireTap, when set (by tests), sees every link message a device writes,
// framed as on the wire (inside the Noise channel).
var linkWireTap atomic.Pointer[func([]byte)]
