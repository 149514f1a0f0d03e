// Package conference is group calls (/parley/conf/1.0.0): a full mesh of
// pairwise calls, each with its own ICE and its own end-to-end keys
// (package calls), and signed membership messages (invite, join, leave)
// with each member's certificate chain. Nobody mixes or re-encrypts.
package conference

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
)

// Options configure the conference service. None yet: the type keeps New's
// signature stable when one comes.
type Options struct{}

// Service runs this device's conferences.
type Service struct {
	service.Env
	o        Options
	pres     *presence.Service
	contacts *contacts.Service
	calls    *calls.Service

	// io is what membership changes do on the network: svc itself, or a
	// recorder in the membership walk test.
	io memberIO

	confMu sync.Mutex // guards confs and runCtx_
	confs  map[callproto.CallID]*conference
	// invitations counts the invitations that created a conference here
	// (their order, for dropping the oldest).
	invitations uint64
	// droppedInvitations counts pending invitations dropped to make room.
	droppedInvitations atomic.Uint64
	// runCtx_ is Serve's context: messages and calls that outlive the
	// request that caused them run within it.
	runCtx_ context.Context
}

// DroppedInvitations counts pending conference invitations dropped,
// oldest first, to keep at most maxPendingInvitations.
func (svc *Service) DroppedInvitations() uint64 { return svc.droppedInvitations.Load() }

// runCtx is the context of Serve (background before Serve).
func (svc *Service) runCtx() context.Context {
	svc.confMu.Lock()
	defer svc.confMu.Unlock()
	if svc.runCtx_ == nil {
		return context.Background()
	}
	return svc.runCtx_
}

// New returns the conference service and plugs it into cl.
func New(env service.Env, pres *presence.Service, cs *contacts.Service, cl *calls.Service, o Options) (*Service, error) {
	if err := env.Validate(); err != nil {
		return nil, err
	}
	if pres == nil || cs == nil || cl == nil {
		return nil, errors.New("conference: the presence, contacts and calls services are required")
	}
	svc := &Service{
		Env: env, o: o,
		pres: pres, contacts: cs, calls: cl,
	}
	svc.io = svc
	cl.SetConferences(svc)
	return svc, nil
}

// Serve answers conference streams until ctx is done.
func (svc *Service) Serve(ctx context.Context) error {
	svc.confMu.Lock()
	svc.runCtx_ = ctx
	svc.confMu.Unlock()
	svc.Host.SetStreamHandler(ConferenceProtocol, svc.handleConfStream)
	defer svc.Host.RemoveStreamHandler(ConferenceProtocol)
	<-ctx.Done()
	return nil
}

// memberIO is what a membership transition does beyond the roster.
type memberIO interface {
	introduce(ctx context.Context, d pcrypto.DeviceID, m confMember, msg confMsg) error
	sendConf(ctx context.Context, d pcrypto.DeviceID, msg confMsg) error
	dial(ctx context.Context, cf *conference, d pcrypto.DeviceID, m confMember)
}
