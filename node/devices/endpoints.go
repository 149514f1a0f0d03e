package devices

import (
	"net/http"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// Endpoints are the device-list operations of the local API.
func (svc *Service) Endpoints() service.Endpoints {
	return service.Endpoints{
		"devices": service.Get(func(*http.Request) (any, error) { return svc.Devices() }),
		"devices/revoke": service.Post(func(r *http.Request, req apitype.DeviceRevoke) (any, error) {
			if err := service.Required("device_id", req.DeviceID); err != nil {
				return nil, err
			}
			return svc.RevokeDevice(r.Context(), req.DeviceID)
		}),
		"devices/promote": service.Post(func(r *http.Request, req apitype.DevicePromote) (any, error) {
			if err := service.Required("device_id", req.DeviceID); err != nil {
				return nil, err
			}
			return svc.PromoteDevice(r.Context(), req.DeviceID)
		}),
	}
}
