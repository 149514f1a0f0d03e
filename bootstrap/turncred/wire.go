package turncred

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/bootstrap/turnsrv"
)

// Bounds of the protocol.
const (
	// MaxRequestSize bounds a request, in bytes.
	MaxRequestSize = 16 << 10
	// MaxResponseSize bounds a response, in bytes.
	MaxResponseSize = 16 << 10
	// MaxURLs bounds the URLs in a response.
	MaxURLs = 16
	// maxMessage bounds an error message.
	maxMessage = 256
	// maxURLLen bounds one URL.
	maxURLLen = 512
	// wireVersion is the version byte of requests and responses.
	wireVersion = 1
)

// Credentials are TURN REST credentials and where to use them.
type Credentials struct {
	// Username is "<unix expiry>:<deviceID>".
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

// request is a decoded request.
type request struct {
	AccountCert, DeviceCert []byte
}

// response is a decoded response: Code 0 with Creds, or an error Code with
// Message.
type response struct {
	Code    byte
	Message string
	Creds   *Credentials
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func encodeRequest(r request) []byte {
	b := []byte{wireVersion}
	b = appendBytes(b, r.AccountCert)
	return appendBytes(b, r.DeviceCert)
}

func encodeResponse(r response) []byte {
	b := []byte{wireVersion, r.Code}
	if r.Code != codeOK {
		return appendBytes(b, []byte(r.Message))
	}
	b = appendBytes(b, []byte(r.Creds.Username))
	b = appendBytes(b, []byte(r.Creds.Password))
	b = binary.AppendUvarint(b, uint64(len(r.Creds.URLs)))
	for _, u := range r.Creds.URLs {
		b = appendBytes(b, []byte(u))
	}
	return b
}

// decoder reads fields and keeps the first error, which wraps ErrMalformed.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint(limit int) int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	switch {
	case k <= 0:
		d.fail("bad varint")
	case k != len(binary.AppendUvarint(nil, n)):
		d.fail("non-minimal varint")
	case n > uint64(limit):
		d.fail(fmt.Sprintf("length or count %d > %d", n, limit))
	}
	if d.err != nil {
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint(limit)
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// text reads a UTF-8 string of at most limit bytes.
func (d *decoder) text(limit int) string {
	v := d.bytes(limit)
	if d.err == nil && !utf8.Valid(v) {
		d.fail("string is not UTF-8")
	}
	return string(v)
}

func (d *decoder) version() {
	if v := d.byte(); d.err == nil && v != wireVersion {
		d.fail(fmt.Sprintf("version %d", v))
	}
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

func decodeRequest(b []byte) (request, error) {
	if len(b) > MaxRequestSize {
		return request{}, fmt.Errorf("%w: request of %d bytes > %d", ErrMalformed, len(b), MaxRequestSize)
	}
	d := decoder{b: b}
	d.version()
	r := request{AccountCert: d.bytes(MaxRequestSize), DeviceCert: d.bytes(MaxRequestSize)}
	if err := d.finish(); err != nil {
		return request{}, err
	}
	if len(r.AccountCert) == 0 || len(r.DeviceCert) == 0 {
		return request{}, fmt.Errorf("%w: empty certificate", ErrMalformed)
	}
	return r, nil
}

// decodeResponse decodes a response and checks that OK credentials are in
// the TURN REST form.
func decodeResponse(b []byte) (response, error) {
	if len(b) > MaxResponseSize {
		return response{}, fmt.Errorf("%w: response of %d bytes > %d", ErrMalformed, len(b), MaxResponseSize)
	}
	d := decoder{b: b}
	d.version()
	r := response{Code: d.byte()}
	if d.err == nil && r.Code != codeOK {
		if codeErrors[r.Code] == nil {
			return response{}, fmt.Errorf("%w: unknown status %d", ErrMalformed, r.Code)
		}
		r.Message = d.text(maxMessage)
		return r, d.finish()
	}
	c := &Credentials{Username: d.text(turnsrv.MaxUsernameLen), Password: d.text(maxMessage)}
	for range d.uvarint(MaxURLs) {
		c.URLs = append(c.URLs, d.text(maxURLLen))
	}
	if err := d.finish(); err != nil {
		return response{}, err
	}
	exp, _, err := turnsrv.ParseUsername(c.Username)
	if err != nil {
		return response{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.Password == "" {
		return response{}, fmt.Errorf("%w: empty password", ErrMalformed)
	}
	c.Expires = exp
	r.Creds = c
	return r, nil
}
