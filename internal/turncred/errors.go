package turncred

import "errors"

// Errors returned by Request, one per response error code, and by the
// decoders. The server's message is wrapped with the sentinel.
var (
	// ErrBadRequest (code 1) means the server could not parse the request.
	ErrBadRequest = errors.New("bad TURN credential request")

	// ErrUnauthorized (code 2) means the certificate chain was refused:
	// the device certificate is not a valid certificate of the account
	// (wrong issuer, bad signature, expired, not yet valid), the
	// account's record in the DHT revokes it, or the account has no
	// record in the DHT.
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

	// ErrMalformedUsername is returned by ParseUsername for a username that
	// is not "<expiry>:<token>" as described in the package documentation.
	ErrMalformedUsername = errors.New("malformed TURN REST username")

	// ErrUsernameTooLong is returned by ParseUsername for a username longer
	// than MaxUsernameLen bytes.
	ErrUsernameTooLong = errors.New("TURN REST username too long")
)

// Code is the status byte of a response.
type Code byte

// Status codes on the wire.
const (
	CodeOK           Code = 0
	CodeBadRequest   Code = 1
	CodeUnauthorized Code = 2
	CodeWrongDevice  Code = 3
	CodeRateLimited  Code = 4
	CodeServer       Code = 5
)

// codeErrors maps error codes to sentinels and back.
var codeErrors = map[Code]error{
	CodeBadRequest:   ErrBadRequest,
	CodeUnauthorized: ErrUnauthorized,
	CodeWrongDevice:  ErrWrongDevice,
	CodeRateLimited:  ErrRateLimited,
	CodeServer:       ErrServer,
}

// Err returns the sentinel of an error code, or nil for CodeOK and for
// codes this version does not know.
func (c Code) Err() error { return codeErrors[c] }

// ErrorCode returns the code that reports err to a client: the code of the
// sentinel err wraps, or CodeServer.
func ErrorCode(err error) Code {
	for code, sentinel := range codeErrors {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return CodeServer
}
