package conference

import (
	"net/http"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// Endpoints are the group-call operations of the local API.
func (svc *Service) Endpoints() service.Endpoints {
	media := func(c apitype.ConferenceRequest) apitype.CallRequest {
		return apitype.CallRequest{Audio: c.Audio, Video: c.Video, Record: c.Record}
	}
	return service.Endpoints{
		"conferences": service.Get(func(*http.Request) (any, error) { return svc.Conferences(), nil }),
		"conferences/start": service.Post(func(_ *http.Request, c apitype.ConferenceRequest) (any, error) {
			return svc.StartConference(c.Max, media(c))
		}),
		"conferences/invite": service.Post(func(r *http.Request, c apitype.ConferenceRequest) (any, error) {
			acct, err := service.ParseAccount("account_id", c.AccountID)
			if err != nil {
				return nil, err
			}
			return service.OK(svc.InviteToConference(r.Context(), c.ConferenceID, acct))
		}),
		"conferences/join": service.Post(func(r *http.Request, c apitype.ConferenceRequest) (any, error) {
			return svc.JoinConference(r.Context(), c.ConferenceID, media(c))
		}),
		"conferences/leave": service.Post(func(r *http.Request, c apitype.ConferenceRequest) (any, error) {
			return service.OK(svc.LeaveConference(r.Context(), c.ConferenceID))
		}),
	}
}
