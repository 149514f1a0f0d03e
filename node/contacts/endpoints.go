package contacts

import (
	"net/http"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// Endpoints are the contact operations of the local API.
func (svc *Service) Endpoints() service.Endpoints {
	return service.Endpoints{
		"contacts": service.Get(func(*http.Request) (any, error) { return svc.Contacts() }),
		"contacts/add": contactOp(func(c apitype.ContactRequest) (any, error) {
			return svc.AddContact(c.AccountID, c.Name, c.Message)
		}),
		"contacts/accept": contactOp(func(c apitype.ContactRequest) (any, error) { return svc.AcceptContact(c.AccountID) }),
		"contacts/decline": contactOp(func(c apitype.ContactRequest) (any, error) {
			return service.OK(svc.DeclineContact(c.AccountID))
		}),
		"contacts/block": contactOp(func(c apitype.ContactRequest) (any, error) { return svc.BlockContact(c.AccountID) }),
		"contacts/remove": contactOp(func(c apitype.ContactRequest) (any, error) {
			return service.OK(svc.RemoveContact(c.AccountID))
		}),
		"contacts/rename": service.Post(func(_ *http.Request, req apitype.ContactRename) (any, error) {
			if err := service.Required("account_id", req.AccountID); err != nil {
				return nil, err
			}
			return svc.RenameContact(req.AccountID, req.Name)
		}),
	}
}

// contactOp is a POST endpoint of a ContactRequest naming an account.
func contactOp(op func(apitype.ContactRequest) (any, error)) service.Endpoint {
	return service.Post(func(_ *http.Request, c apitype.ContactRequest) (any, error) {
		if err := service.Required("account_id", c.AccountID); err != nil {
			return nil, err
		}
		return op(c)
	})
}
