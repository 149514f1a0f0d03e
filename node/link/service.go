// Package link links a new device to an account (/parley/link/1.0.0).
// The new device (NewLinkRequest, in newdevice.go) shows a one-time link
// code naming its device ID and a secret; an approving device of the
// account (Service, approve.go) connects to it, both prove the secret,
// both screens show the same SAS, and once it is confirmed the approver
// sends the new device its certificate and the encrypted account archive
// over the Noise channel. The code formats and messages are in code.go;
// docs/protocol.md has the whole exchange and the session states.
package link

import (
	"errors"
	"sync"
	"time"

	"github.com/parleyhq/parley/node/devices"
	"github.com/parleyhq/parley/node/service"
)

// Options configure the approving side of linking. None yet: the type keeps
// New's signature stable when one comes.
type Options struct{}

// Service is the approving side of linking on a device of the account.
type Service struct {
	service.Env
	o        Options
	devs     *devices.Service
	sessions sessionTable
}

// sessionTable holds the approver's link sessions and the codes that
// already linked a device.
type sessionTable struct {
	mu        sync.Mutex // guards the following fields
	sessions  map[string]*linkSession
	usedCodes map[[32]byte]time.Time
}

// New returns the approving side of linking.
func New(env service.Env, devs *devices.Service, o Options) (*Service, error) {
	if err := env.Validate(); err != nil {
		return nil, err
	}
	if devs == nil {
		return nil, errors.New("link: the devices service is required")
	}
	return &Service{Env: env, o: o, devs: devs}, nil
}
