package node

import (
	"net/http"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// Endpoints is the whole local API: the node's own operations (identity,
// status, settings) and every service's. The event stream is Subscribe.
func (n *Node) Endpoints() (service.Endpoints, error) {
	eps := service.Endpoints{
		"identity": service.Get(func(*http.Request) (any, error) { return n.Identity() }),
		"status":   service.Get(func(*http.Request) (any, error) { return n.Status() }),
		"settings": service.Get(func(*http.Request) (any, error) { return n.Settings() }),
		"settings/set": service.Post(func(_ *http.Request, req apitype.Setting) (any, error) {
			key, err := service.ParseSettingKey(req.Key)
			if err != nil {
				return nil, err
			}
			return service.OK(n.SetSetting(key, req.Value))
		}),
	}
	for _, svc := range []interface{ Endpoints() service.Endpoints }{
		n.presenceSvc, n.contactsSvc, n.devicesSvc, n.linkSvc, n.callsSvc, n.confSvc,
	} {
		if err := eps.Merge(svc.Endpoints()); err != nil {
			return nil, err
		}
	}
	return eps, nil
}
