package localapi

import (
	"context"
	"net/http"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// ConferenceBackend is the part of the backend that runs group calls;
// *node.Node implements it.
type ConferenceBackend interface {
	Conferences() []apitype.Conference
	StartConference(max int, opts apitype.CallRequest) (*apitype.Conference, error)
	InviteToConference(ctx context.Context, confID, account string) error
	JoinConference(ctx context.Context, confID string, opts apitype.CallRequest) (*apitype.Conference, error)
	LeaveConference(ctx context.Context, confID string) error
}

// confOp decodes a ConferenceRequest and runs op on the conference backend.
func confOp(op func(ConferenceBackend, *http.Request, apitype.ConferenceRequest) (any, error)) handler {
	return func(b Backend, r *http.Request) (any, error) {
		var req apitype.ConferenceRequest
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		return op(b, r, req)
	}
}

func init() {
	handlers["conferences"] = endpoint{http.MethodGet, func(b Backend, _ *http.Request) (any, error) { return b.Conferences(), nil }}
	handlers["conferences/start"] = endpoint{http.MethodPost, confOp(func(b ConferenceBackend, _ *http.Request, c apitype.ConferenceRequest) (any, error) {
		return b.StartConference(c.Max, apitype.CallRequest{Audio: c.Audio, Video: c.Video, Record: c.Record})
	})}
	handlers["conferences/invite"] = endpoint{http.MethodPost, confOp(func(b ConferenceBackend, r *http.Request, c apitype.ConferenceRequest) (any, error) {
		return okResult(b.InviteToConference(r.Context(), c.ConferenceID, c.AccountID))
	})}
	handlers["conferences/join"] = endpoint{http.MethodPost, confOp(func(b ConferenceBackend, r *http.Request, c apitype.ConferenceRequest) (any, error) {
		return b.JoinConference(r.Context(), c.ConferenceID, apitype.CallRequest{Audio: c.Audio, Video: c.Video, Record: c.Record})
	})}
	handlers["conferences/leave"] = endpoint{http.MethodPost, confOp(func(b ConferenceBackend, r *http.Request, c apitype.ConferenceRequest) (any, error) {
		return okResult(b.LeaveConference(r.Context(), c.ConferenceID))
	})}
}
