package presence

import (
	"net/http"

	"github.com/parleyhq/parley/node/service"
)

// Endpoints are the presence operations of the local API.
func (svc *Service) Endpoints() service.Endpoints {
	return service.Endpoints{
		"lookup": service.Get(func(r *http.Request) (any, error) {
			acct, err := service.ParseAccount("the account query parameter", r.URL.Query().Get("account"))
			if err != nil {
				return nil, err
			}
			return svc.Lookup(r.Context(), acct)
		}),
	}
}
