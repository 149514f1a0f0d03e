package contacts

import (
	"net/http"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/service"
)

// Endpoints are the contact operations of the local API.
func (svc *Service) Endpoints() service.Endpoints {
	return service.Endpoints{
		"contacts": service.Get(func(*http.Request) (any, error) { return svc.Contacts() }),
		"contacts/add": contactOp(func(id pcrypto.AccountID, c apitype.ContactRequest) (any, error) {
			return svc.AddContact(id, c.Name, c.Message)
		}),
		"contacts/accept": contactOp(func(id pcrypto.AccountID, _ apitype.ContactRequest) (any, error) { return svc.AcceptContact(id) }),
		"contacts/decline": contactOp(func(id pcrypto.AccountID, _ apitype.ContactRequest) (any, error) {
			return service.OK(svc.DeclineContact(id))
		}),
		"contacts/block": contactOp(func(id pcrypto.AccountID, _ apitype.ContactRequest) (any, error) { return svc.BlockContact(id) }),
		"contacts/remove": contactOp(func(id pcrypto.AccountID, _ apitype.ContactRequest) (any, error) {
			return service.OK(svc.RemoveContact(id))
		}),
		"contacts/rename": service.Post(func(_ *http.Request, req apitype.ContactRename) (any, error) {
			id, err := service.ParseAccount("account_id", req.AccountID)
			if err != nil {
				return nil, err
			}
			return svc.RenameContact(id, req.Name)
		}),
	}
}

// contactOp is a POST endpoint of a ContactRequest naming an account; the
// account ID is parsed here, where it enters.
func contactOp(op func(pcrypto.AccountID, apitype.ContactRequest) (any, error)) service.Endpoint {
	return service.Post(func(_ *http.Request, c apitype.ContactRequest) (any, error) {
		id, err := service.ParseAccount("account_id", c.AccountID)
		if err != nil {
			return nil, err
		}
		return op(id, c)
	})
}
