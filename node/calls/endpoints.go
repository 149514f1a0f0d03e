package calls

import (
	"net/http"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// Endpoints are the call operations of the local API.
func (svc *Service) Endpoints() service.Endpoints {
	return service.Endpoints{
		"calls": service.Get(func(*http.Request) (any, error) { return svc.Calls(), nil }),
		"calls/start": service.Post(func(r *http.Request, req apitype.CallRequest) (any, error) {
			return svc.StartCall(r.Context(), req)
		}),
		"calls/answer": service.Post(func(_ *http.Request, a apitype.CallAction) (any, error) { return svc.AnswerCall(a) }),
		"calls/decline": service.Post(func(_ *http.Request, a apitype.CallAction) (any, error) {
			return service.OK(svc.DeclineCall(a))
		}),
		"calls/hangup": service.Post(func(_ *http.Request, a apitype.CallAction) (any, error) {
			return service.OK(svc.HangUp(a))
		}),
	}
}
