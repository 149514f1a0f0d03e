// Package calls is the call service of a Parley device: one-to-one calls
// (/parley/call/1.0.0 signalling with end-to-end keys, forking to every
// device of the callee, /parley/call-control/1.0.0 for hang-ups that
// outlive a relayed signalling stream) and the media of each call (ICE
// and SRTP through package calltransport, sources and sinks through package
// media). Group calls are package conference: a full mesh of these calls,
// which plugs in through Conferences.
package calls

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calltransport"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
)

// Options configure the calls service.
type Options struct {
	// ICELoopback offers loopback ICE candidates (tests and one-machine
	// labs). Off by default.
	ICELoopback bool
	// ICERelayOnly restricts calls to TURN relay candidates. Off by
	// default.
	ICERelayOnly bool
	// TestOnlyWithholdConfirm makes this device, as a caller, never send
	// the SAS confirmation: what a man in the middle does (tests).
	TestOnlyWithholdConfirm bool
}

// Service places, answers and runs calls and conferences.
type Service struct {
	service.Env
	o        Options
	pres     *presence.Service
	contacts *contacts.Service

	ctxMu   sync.Mutex      // guards runCtx_
	runCtx_ context.Context // Serve's context; calls live within it

	callsMu   sync.Mutex // guards calls and callOrder
	calls     map[callproto.CallID]*Call
	callOrder []callproto.CallID
	replay    callproto.ReplayCache

	confMu sync.Mutex  // guards confs
	confs  Conferences // set once by SetConferences; nil: no conferences

	// sigDropped counts call signalling messages refused as malformed,
	// oversized, forged or not for us.
	sigDropped atomic.Uint64

	spare spareLeg // a callee leg gathered ahead of need (spare.go)

	turnMu      sync.Mutex // guards the turn* fields
	turnServers []calltransport.ICEServer
	turnExpires time.Time
	turnFrom    []peer.ID // the bootstraps turnServers came from
	turnFetched time.Time // when credentials were last asked for
}

// New returns the calls service.
func New(env service.Env, pres *presence.Service, cs *contacts.Service, o Options) (*Service, error) {
	if err := env.Validate(); err != nil {
		return nil, err
	}
	if pres == nil || cs == nil {
		return nil, errors.New("calls: the presence and contacts services are required")
	}
	return &Service{
		Env: env, o: o,
		pres: pres, contacts: cs,
		spare: spareLeg{kick: make(chan struct{}, 1)},
	}, nil
}

// Serve answers call, call-control and conference streams until ctx is
// done, then ends every call.
func (svc *Service) Serve(ctx context.Context) error {
	svc.ctxMu.Lock()
	svc.runCtx_ = ctx
	svc.ctxMu.Unlock()
	svc.Host.SetStreamHandler(CallProtocol, svc.handleCallStream)
	defer svc.Host.RemoveStreamHandler(CallProtocol)
	svc.Host.SetStreamHandler(CallControlProtocol, svc.handleCallControlStream)
	defer svc.Host.RemoveStreamHandler(CallControlProtocol)
	spareDone := make(chan struct{})
	go func() {
		defer close(spareDone)
		svc.spareLoop(ctx)
	}()
	<-ctx.Done()
	svc.endAllCalls()
	<-spareDone
	return nil
}

// runCtx is the context of Serve (background before Serve).
func (svc *Service) runCtx() context.Context {
	svc.ctxMu.Lock()
	defer svc.ctxMu.Unlock()
	if svc.runCtx_ == nil {
		return context.Background()
	}
	return svc.runCtx_
}

// endAllCalls hangs up every call (the daemon is stopping).
func (svc *Service) endAllCalls() {
	for _, c := range svc.activeCalls() {
		c.end("the daemon stopped", callproto.ControlHangup)
	}
}

// SignallingDropped counts call signalling messages refused as malformed,
// oversized, forged or not for us.
func (svc *Service) SignallingDropped() uint64 { return svc.sigDropped.Load() }

// Conferences is what the calls service asks of the group-call service
// about a pairwise call that belongs to a conference.
type Conferences interface {
	// IsMember reports whether device d is a member of conference conf,
	// which this device has joined (else its offer is refused).
	IsMember(conf callproto.CallID, d pcrypto.DeviceID) bool
	// AnswerOptions is how a member's call is answered (at once).
	AnswerOptions(conf callproto.CallID, d pcrypto.DeviceID) apitype.CallAction
	// Attach hands over the pairwise call with member d.
	Attach(c *Call, d pcrypto.DeviceID)
}

// noConferences refuses every conference call.
type noConferences struct{}

func (noConferences) IsMember(callproto.CallID, pcrypto.DeviceID) bool { return false }
func (noConferences) AnswerOptions(callproto.CallID, pcrypto.DeviceID) apitype.CallAction {
	return apitype.CallAction{}
}
func (noConferences) Attach(c *Call, _ pcrypto.DeviceID) { c.End("conference unknown") }

// SetConferences plugs in the group-call service (once, before Serve).
func (svc *Service) SetConferences(c Conferences) {
	svc.confMu.Lock()
	defer svc.confMu.Unlock()
	svc.confs = c
}

func (svc *Service) conf() Conferences {
	svc.confMu.Lock()
	defer svc.confMu.Unlock()
	if svc.confs == nil {
		return noConferences{}
	}
	return svc.confs
}

// StartMemberCall calls device d of account acct as a member of
// conference conf, with the conference's media.
func (svc *Service) StartMemberCall(acct pcrypto.AccountID, d pcrypto.DeviceID, opts apitype.CallRequest, conf callproto.CallID) (*Call, error) {
	return svc.startCall(acct, []pcrypto.DeviceID{d}, opts, conf, nil)
}

// Conference is the conference c belongs to (zero for a one-to-one call).
func (c *Call) Conference() callproto.CallID { return c.conf }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Info describes the call as the local API shows it.
func (c *Call) Info() apitype.Call { return c.info() }

// End hangs up the call (telling the other device) with reason.
func (c *Call) End(reason string) { c.end(reason, callproto.ControlHangup) }

// VanishForTest closes the media and signalling of every call without a
// word to the peers, as a killed process would (with the host closed
// too): tests of how the others notice. Not for use outside tests.
func (svc *Service) VanishForTest() {
	for _, c := range svc.activeCalls() {
		c.mu.Lock()
		legs := slices.Clone(c.legs)
		c.mu.Unlock()
		for _, l := range legs {
			l.close()
		}
	}
	svc.dropSpare()
}

// EndCallsWith hangs up every call with account acct that is not part of a
// conference (a contact that was blocked or removed), giving reason.
func (svc *Service) EndCallsWith(acct pcrypto.AccountID, reason string) {
	for _, c := range svc.activeCalls() {
		if c.peer == acct && c.conf == (callproto.CallID{}) {
			c.end(reason, callproto.ControlHangup)
		}
	}
}
