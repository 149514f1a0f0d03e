package turncred

import "errors"

// Errors returned by Request, one per response error code, and by the
// response decoder. The server's message is wrapped with the sentinel.
var (
	// ErrBadRequest (code 1) means the server could not parse the request.
	ErrBadRequest = errors.New("bad TURN credential request")

	// ErrUnauthorized (code 2) means the certificate chain was refused:
	// the device certificate is not a valid certificate of the account
	// (wrong issuer, bad signature, expired, not yet valid).
	ErrUnauthorized = errors.New("device certificate refused")

	// ErrWrongDevice (code 3) means the device certificate names a device
	// other than the peer that opened the stream.
	ErrWrongDevice = errors.New("device certificate is not the requesting peer's")

	// ErrRateLimited (code 4) means the device asked too often; it should
	// retry later.
	ErrRateLimited = errors.New("too many TURN credential requests")

	// ErrServer (code 5) means the server failed or is misconfigured.
	ErrServer = errors.New("TURN credential server error")

	// ErrMalformed means a message could not be decoded: truncated,
	// oversize, trailing bytes, unknown version or status code, or
	// credentials that are not in the TURN REST form.
	ErrMalformed = errors.New("malformed TURN credential message")
)

// Error codes on the wire.
const (
	codeOK           byte = 0
	codeBadRequest   byte = 1
	codeUnauthorized byte = 2
	codeWrongDevice  byte = 3
	codeRateLimited  byte = 4
	codeServer       byte = 5
)

// codeErrors maps wire codes to sentinels and back.
var codeErrors = map[byte]error{
	codeBadRequest:   ErrBadRequest,
	codeUnauthorized: ErrUnauthorized,
	codeWrongDevice:  ErrWrongDevice,
	codeRateLimited:  ErrRateLimited,
	codeServer:       ErrServer,
}

// errorToCode returns the wire code of an error made by the issuer.
func errorToCode(err error) byte {
	for code, sentinel := range codeErrors {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return codeServer
}
