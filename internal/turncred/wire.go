package turncred

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/parleyhq/parley/internal/wire"
)

// ID is the libp2p protocol ID of TURN credential requests.
const ID = "/parley/turn-cred/1.0.0"

// Bounds of the protocol.
const (
	// MaxRequestSize bounds a request, in bytes.
	MaxRequestSize = 16 << 10
	// MaxResponseSize bounds a response, in bytes.
	MaxResponseSize = 16 << 10
	// MaxURLs bounds the URLs in a response.
	MaxURLs = 16
	// MaxMessageLen bounds an error message and a password, in bytes.
	MaxMessageLen = 256
	// MaxURLLen bounds one URL, in bytes.
	MaxURLLen = 512
	// wireVersion is the version byte of requests and responses.
	wireVersion = 1
)

// Credentials are TURN REST credentials and where to use them.
type Credentials struct {
	// Username is "<unix expiry>:<token>", the token opaque.
	Username string
	// Password is base64(HMAC-SHA1(secret, Username)). Secret: never log it.
	Password string
	// Expires is the expiry in Username; TURN servers refuse the
	// credentials from then on.
	Expires time.Time
	// URLs are the STUN and TURN servers that accept the credentials, like
	// "turn:192.0.2.1:3478?transport=udp" or "stun:192.0.2.1:3478".
	URLs []string
}

// LogValue keeps the password out of logs.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("username", c.Username),
		slog.Time("expires", c.Expires),
		slog.Any("urls", c.URLs),
	)
}

// RequestMsg is a request: the device's certificates, DER.
type RequestMsg struct {
	AccountCert, DeviceCert []byte
}

// ResponseMsg is a response: Code CodeOK with Creds, or an error Code with
// Message.
type ResponseMsg struct {
	Code    Code
	Message string
	Creds   *Credentials
}

// EncodeRequest encodes a request.
func EncodeRequest(r RequestMsg) []byte {
	e := wire.NewEncoder([]byte{wireVersion})
	e.Bytes(r.AccountCert)
	e.Bytes(r.DeviceCert)
	return e.Data()
}

// EncodeResponse encodes a response. Creds must be set for CodeOK.
func EncodeResponse(r ResponseMsg) []byte {
	e := wire.NewEncoder([]byte{wireVersion, byte(r.Code)})
	if r.Code != CodeOK {
		e.String(r.Message)
		return e.Data()
	}
	e.String(r.Creds.Username)
	e.String(r.Creds.Password)
	e.Uvarint(uint64(len(r.Creds.URLs)))
	for _, u := range r.Creds.URLs {
		e.String(u)
	}
	return e.Data()
}

// decodeVersion reads the version byte and refuses other versions.
func decodeVersion(d *wire.Decoder) {
	if v := d.Uint8(); d.Err() == nil && v != wireVersion {
		d.Fail(fmt.Errorf("version %d", v))
	}
}

// finish ends decoding; its error wraps ErrMalformed.
func finish(d *wire.Decoder) error {
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// DecodeRequest decodes a request of at most MaxRequestSize bytes with two
// non-empty certificates. Errors wrap ErrMalformed.
func DecodeRequest(b []byte) (RequestMsg, error) {
	if len(b) > MaxRequestSize {
		return RequestMsg{}, fmt.Errorf("%w: request of %d bytes > %d", ErrMalformed, len(b), MaxRequestSize)
	}
	d := wire.NewDecoder(b)
	decodeVersion(d)
	r := RequestMsg{AccountCert: d.Bytes(MaxRequestSize), DeviceCert: d.Bytes(MaxRequestSize)}
	if err := finish(d); err != nil {
		return RequestMsg{}, err
	}
	if len(r.AccountCert) == 0 || len(r.DeviceCert) == 0 {
		return RequestMsg{}, fmt.Errorf("%w: empty certificate", ErrMalformed)
	}
	return r, nil
}

// DecodeResponse decodes a response of at most MaxResponseSize bytes and
// checks that OK credentials are in the TURN REST form. Errors wrap
// ErrMalformed.
func DecodeResponse(b []byte) (ResponseMsg, error) {
	if len(b) > MaxResponseSize {
		return ResponseMsg{}, fmt.Errorf("%w: response of %d bytes > %d", ErrMalformed, len(b), MaxResponseSize)
	}
	d := wire.NewDecoder(b)
	decodeVersion(d)
	r := ResponseMsg{Code: Code(d.Uint8())}
	if d.Err() == nil && r.Code != CodeOK {
		if r.Code.Err() == nil {
			return ResponseMsg{}, fmt.Errorf("%w: unknown status %d", ErrMalformed, r.Code)
		}
		r.Message = d.Text(MaxMessageLen)
		return r, finish(d)
	}
	c := &Credentials{Username: d.Text(MaxUsernameLen), Password: d.Text(MaxMessageLen)}
	for range d.Count(MaxURLs) {
		c.URLs = append(c.URLs, d.Text(MaxURLLen))
	}
	if err := finish(d); err != nil {
		return ResponseMsg{}, err
	}
	exp, _, err := ParseUsername(c.Username)
	if err != nil {
		return ResponseMsg{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.Password == "" {
		return ResponseMsg{}, fmt.Errorf("%w: empty password", ErrMalformed)
	}
	c.Expires = exp
	r.Creds = c
	return r, nil
}
