package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Bounds on a one-message exchange (contact and conference protocols).
const (
	// MaxMessage bounds the signed message of an exchange.
	MaxMessage = 64 << 10
	maxReply   = 4 << 10
	// IOTimeout bounds one whole exchange.
	IOTimeout = 10 * time.Second
	// ClockSkew is how far a signed message's time may be from ours.
	ClockSkew = 10 * time.Minute
)

// reply is the receiver's one-line JSON answer to a message.
type reply struct {
	OK    bool   `json:"ok"`
	Code  string `json:"code,omitempty"` // "invalid", "unexpected", "busy"
	Error string `json:"error,omitempty"`
}

// ServeOne reads one bounded signed message from s, hands it to handle and
// writes the one-line JSON reply: ok, or the refusal's code and reason.
// The contact and conference protocols share it.
func ServeOne(log *slog.Logger, s network.Stream, what string, handle func(from peer.ID, data []byte) error) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(IOTimeout))
	data, err := io.ReadAll(io.LimitReader(s, MaxMessage+1))
	if err != nil {
		s.Reset()
		return
	}
	rep := reply{OK: true}
	if len(data) > MaxMessage {
		rep = reply{Code: "invalid", Error: fmt.Sprintf("message larger than %d bytes", MaxMessage)}
	} else if err := handle(s.Conn().RemotePeer(), data); err != nil {
		var r *Refused
		if !errors.As(err, &r) {
			r = &Refused{Code: "busy", Reason: "internal error, try again"}
			log.Error(what+" message not processed", "err", err)
		}
		rep = reply{Code: r.Code, Error: r.Reason}
		log.Info(what+" message refused", "from", s.Conn().RemotePeer(), "code", r.Code, "reason", r.Reason)
	}
	b, _ := json.Marshal(rep)
	_, _ = s.Write(append(b, '\n'))
}

// Request sends one signed message on a new stream of proto to p (through
// a relay if that is the only way) and reads the one-line JSON reply.
func Request(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, tag string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, IOTimeout)
	defer cancel()
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, tag), p, proto)
	if err != nil {
		return err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if _, err := s.Write(msg); err != nil {
		s.Reset()
		return err
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(s, maxReply)).ReadBytes('\n')
	if err != nil {
		s.Reset()
		return fmt.Errorf("reading reply: %w", err)
	}
	var r reply
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("malformed reply: %w", err)
	}
	if !r.OK {
		return &Refused{Code: r.Code, Reason: r.Error}
	}
	return nil
}
