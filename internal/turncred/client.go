package turncred

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// defaultRequestTimeout bounds Request when ctx has no deadline.
const defaultRequestTimeout = 30 * time.Second

// Request asks the bootstrap server for TURN credentials, proving the
// device with its account and device certificates (DER). h must be the
// device's host (its peer ID is the device ID). Errors wrap the sentinel of
// the server's error code (ErrUnauthorized, ErrRateLimited, ...) with its
// message, ErrMalformed for an unreadable answer, or the stream error.
func Request(ctx context.Context, h host.Host, server peer.ID, accountCert, deviceCert []byte) (*Credentials, error) {
	c, err := doRequest(ctx, h, server, accountCert, deviceCert)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("turncred.Request: %w", ctx.Err())
		}
		return nil, fmt.Errorf("turncred.Request: %w", err)
	}
	return c, nil
}

func doRequest(ctx context.Context, h host.Host, server peer.ID, accountCert, deviceCert []byte) (*Credentials, error) {
	req := EncodeRequest(RequestMsg{AccountCert: accountCert, DeviceCert: deviceCert})
	if len(req) > MaxRequestSize {
		return nil, fmt.Errorf("%w: request of %d bytes > %d", ErrBadRequest, len(req), MaxRequestSize)
	}
	s, err := h.NewStream(ctx, server, ID)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultRequestTimeout)
	}
	_ = s.SetDeadline(deadline)
	if _, err := s.Write(req); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("write request: %w", err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("close write: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(s, MaxResponseSize+1))
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("read response: %w", err)
	}
	resp, err := DecodeResponse(data)
	if err != nil {
		return nil, err
	}
	if resp.Code != CodeOK {
		return nil, fmt.Errorf("%w: server says: %s", resp.Code.Err(), resp.Message)
	}
	return resp.Creds, nil
}
