// Package calls is the call service of a Parley device: one-to-one calls
// (/parley/call/1.0.0 signalling with end-to-end keys, forking to every
// device of the callee, /parley/call-control/1.0.0 for hang-ups that
// outlive a relayed signalling stream), the media of each call (ICE and
// SRTP through package calltransport, sources and sinks through package
// media) and group calls (/parley/conf/1.0.0: a full mesh of pairwise
// calls with signed membership).
package calls

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calltransport"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
	"github.com/parleyhq/parley/store"
)

// Options configure the calls service.
type Options struct {
	// ICELoopback offers loopback ICE candidates (tests and one-machine
	// labs). Off by default.
	ICELoopback bool
	// ICERelayOnly restricts calls to TURN relay candidates. Off by
	// default.
	ICERelayOnly bool
	// Now is the clock (set from service.Env).
	Now func() time.Time
}

// Service places, answers and runs calls and conferences.
type Service struct {
	o        Options
	h        host.Host
	st       *store.Store
	id       *account.Identity
	log      *slog.Logger
	ev       *service.Events
	pres     *presence.Service
	contacts *contacts.Service

	ctxMu   sync.Mutex      // guards runCtx_
	runCtx_ context.Context // Serve's context; calls live within it

	callsMu   sync.Mutex // guards calls and callOrder
	calls     map[callproto.CallID]*call
	callOrder []callproto.CallID
	replay    callproto.ReplayCache

	confMu sync.Mutex // guards confs
	confs  map[callproto.CallID]*conference

	// sigDropped counts call signalling messages refused as malformed,
	// oversized, forged or not for us.
	sigDropped atomic.Uint64

	turnMu      sync.Mutex // guards turnServers and turnExpires
	turnServers []calltransport.ICEServer
	turnExpires time.Time
}

// New returns the calls service.
func New(env service.Env, pres *presence.Service, cs *contacts.Service, o Options) (*Service, error) {
	if err := env.Validate(); err != nil {
		return nil, err
	}
	if pres == nil || cs == nil {
		return nil, errors.New("calls: the presence and contacts services are required")
	}
	o.Now = env.Now
	return &Service{
		o: o, h: env.Host, st: env.Store, id: env.ID, log: env.Log, ev: env.Events,
		pres: pres, contacts: cs,
	}, nil
}

// Serve answers call, call-control and conference streams until ctx is
// done, then ends every call.
func (svc *Service) Serve(ctx context.Context) error {
	svc.ctxMu.Lock()
	svc.runCtx_ = ctx
	svc.ctxMu.Unlock()
	svc.h.SetStreamHandler(CallProtocol, svc.handleCallStream)
	defer svc.h.RemoveStreamHandler(CallProtocol)
	svc.h.SetStreamHandler(CallControlProtocol, svc.handleCallControlStream)
	defer svc.h.RemoveStreamHandler(CallControlProtocol)
	svc.h.SetStreamHandler(ConferenceProtocol, svc.handleConfStream)
	defer svc.h.RemoveStreamHandler(ConferenceProtocol)
	<-ctx.Done()
	svc.endAllCalls()
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
