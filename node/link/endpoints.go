package link

import (
	"net/http"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// Endpoints are the approving side of linking in the local API.
func (svc *Service) Endpoints() service.Endpoints {
	return service.Endpoints{
		"link/approve": service.Post(func(r *http.Request, req apitype.LinkApprove) (any, error) {
			if err := service.Required("code", req.Code); err != nil {
				return nil, err
			}
			return svc.ApproveLink(r.Context(), req)
		}),
		"link/confirm": service.Post(func(r *http.Request, req apitype.LinkConfirm) (any, error) {
			return svc.ConfirmLink(r.Context(), req)
		}),
	}
}
