package calls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/node/service"

	"github.com/pion/rtp"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parleyhq/parley/internal/turncred"
	"github.com/parleyhq/parley/internal/turnstream"
	"github.com/parleyhq/parley/node/callproto"
	"github.com/parleyhq/parley/node/calltransport"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/media"
)

// sendStream is one local media source of a call.
type sendStream struct {
	src     media.Source
	codec   media.Codec
	ssrc    uint32
	packets atomic.Uint64
	bytes   atomic.Uint64
}

// recvStream is where one kind of received media goes.
type recvStream struct {
	codec   media.Codec
	counter *media.Counter
	sink    media.Sink // counter, teed with the recording sink if any
	ssrc    atomic.Uint32
}

// CheckSources opens the audio and video sources a call would send and
// closes them again: the error a call with them would fail with, before
// any call is placed.
func CheckSources(audio, video string) error {
	ss, err := openSources(audio, video)
	if err != nil {
		return err
	}
	closeSources(ss)
	return nil
}

// checkRecord refuses a record target a call could not write (an existing
// recording file, which is never replaced; a directory that cannot be
// created or written in), before anyone is rung.
func checkRecord(spec string) error {
	if err := media.CheckSink(spec); err != nil {
		return fmt.Errorf("%w: --record: %w", service.ErrInvalidInput, err)
	}
	dir := spec
	switch strings.ToLower(filepath.Ext(spec)) {
	case ".ogg", ".opus", ".ivf", ".wav":
		dir = filepath.Dir(spec)
	}
	if spec == "" || spec == "count" || strings.HasPrefix(spec, "rtp://") {
		return nil
	}
	if err := service.WritableDir(dir); err != nil {
		return fmt.Errorf("%w: --record: %w", service.ErrInvalidInput, err)
	}
	return nil
}

// openSources opens the call's audio (default: a tone) and video sources.
func openSources(audio, video string) ([]*sendStream, error) {
	var out []*sendStream
	if audio == "" {
		audio = "tone"
	}
	if audio != "none" {
		src, err := media.ParseSource(audio, media.Audio)
		if err != nil {
			return nil, fmt.Errorf("%w: --audio: %w", service.ErrInvalidInput, err) // the error names the source
		}
		out = append(out, &sendStream{src: src, codec: src.Codec(), ssrc: randomSSRC()})
	}
	if video != "" {
		src, err := media.ParseSource(video, media.Video)
		if err != nil {
			closeSources(out)
			return nil, fmt.Errorf("%w: --video: %w", service.ErrInvalidInput, err) // the error names the source
		}
		out = append(out, &sendStream{src: src, codec: src.Codec(), ssrc: randomSSRC()})
	}
	return out, nil
}

func closeSources(ss []*sendStream) {
	for _, s := range ss {
		s.src.Close()
	}
}

// mediaDescs describes what this side sends.
func (c *Call) mediaDescs() []callproto.MediaDesc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []callproto.MediaDesc
	for _, s := range c.sources {
		out = append(out, callproto.MediaDesc{
			Kind: string(s.codec.Kind), Codec: s.codec.Name, ClockRate: s.codec.ClockRate,
			Channels: s.codec.Channels, PayloadType: s.codec.PayloadType, SSRC: s.ssrc,
		})
	}
	if len(out) == 0 {
		// A side that sends nothing still describes what it can receive.
		out = append(out, callproto.MediaDesc{Kind: "audio", Codec: media.PCMU.Name, ClockRate: 8000, Channels: 1, SSRC: randomSSRC()})
	}
	return out
}

// startMedia starts ICE with the peer's credentials and SRTP with the call
// keys, then the send and receive pumps.
func (l *leg) startMedia(remoteUfrag, remotePwd string, caller bool) error {
	c := l.c
	ctx, cancel := context.WithTimeout(c.ctx, connectTimeout)
	if err := l.tl.Start(ctx, remoteUfrag, remotePwd); err != nil {
		cancel()
		return err
	}
	local, remote := l.keys.Directions(caller)
	k := calltransport.Keys{
		LocalKey: local.MasterKey[:], LocalSalt: local.MasterSalt[:],
		RemoteKey: remote.MasterKey[:], RemoteSalt: remote.MasterSalt[:],
	}
	m, err := l.tl.StartMedia(k, 0)
	if err != nil {
		cancel()
		return err
	}
	c.mu.Lock()
	l.media = m // info() reads it under c.mu
	c.mu.Unlock()
	l.up = make(chan struct{})
	go l.receive()
	go func() {
		defer cancel()
		if err := l.tl.WaitConnected(ctx); err != nil {
			if c.ctx.Err() == nil {
				c.end("could not connect: "+err.Error(), callproto.ControlHangup)
			}
			return
		}
		c.mark(apitype.StepICEConnected)
		p := l.tl.Path()
		c.step(InMediaUp, apitype.EventCallConnected, fmt.Sprintf("%s/%s over %s", p.Local, p.Remote, p.Network))
		close(l.up)
		go l.watchPath()
		c.svc.Log.Info("call connected", "call", CallIDString(c.id), "local", p.Local, "remote", p.Remote, "network", p.Network)
		c.mu.Lock()
		sources := c.sources
		c.mu.Unlock()
		for _, s := range sources {
			go l.send(s)
		}
		l.watchPeer()
	}()
	return nil
}

// send pumps one source into the call until it ends.
func (l *leg) send(s *sendStream) {
	c := l.c
	for {
		p, err := s.src.ReadRTP(c.ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && c.ctx.Err() == nil {
				c.svc.Log.Warn("media source failed", "codec", s.codec.Name, "err", err)
			}
			return
		}
		p.SSRC = s.ssrc
		p.PayloadType = s.codec.PayloadType
		if err := l.media.WriteRTP(p); err != nil {
			if errors.Is(err, calltransport.ErrClosed) || c.ctx.Err() != nil {
				return
			}
			continue
		}
		if s.packets.Add(1) == 1 {
			c.mark(apitype.StepFirstSent)
		}
		s.bytes.Add(uint64(len(p.Payload)))
	}
}

// receive routes decrypted packets to the sink of their kind.
func (l *leg) receive() {
	c := l.c
	for {
		p, err := l.media.ReadRTP()
		if err != nil {
			if c.ctx.Err() == nil && errors.Is(err, calltransport.ErrFailed) {
				c.end("connection lost", "")
			}
			return
		}
		r, err := c.sinkFor(p)
		if err != nil {
			continue
		}
		r.ssrc.Store(p.SSRC)
		c.mu.Lock()
		first := c.firstRecv.IsZero()
		if first {
			c.firstRecv = time.Now()
			c.marks = append(c.marks, callMark{apitype.StepFirstReceived, c.firstRecv})
		}
		c.mu.Unlock()
		if first {
			// Media can arrive a moment before this side has seen the
			// connection up; the event waits for call.connected.
			msg := fmt.Sprintf("first %s packet after %.1f ms", r.codec.Name, float64(time.Since(c.started).Microseconds())/1000)
			go func() {
				select {
				case <-l.up:
					c.event(apitype.EventCallMedia, msg)
				case <-c.ctx.Done():
				}
			}()
		}
		_ = r.sink.WriteRTP(p)
	}
}

// sinkFor returns (creating on first use) the receive stream for p's codec.
func (c *Call) sinkFor(p *rtp.Packet) (*recvStream, error) {
	codec, ok := codecByPT(p.PayloadType)
	if !ok {
		return nil, fmt.Errorf("payload type %d not offered", p.PayloadType)
	}
	kind := string(codec.Kind)
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.sinks[kind]; ok {
		return r, nil
	}
	if c.ended {
		return nil, errors.New("call ended") // end() closed the sinks already
	}
	r := &recvStream{codec: codec, counter: media.NewCounter(codec)}
	r.sink = r.counter
	if c.opts.Record != "" {
		rec, err := media.ParseSink(c.opts.Record, codec)
		if err != nil {
			c.svc.Log.Warn("cannot record", "record", c.opts.Record, "codec", codec.Name, "err", err)
			msg := fmt.Sprintf("%s %s not recorded: %v", codec.Kind, codec.Name, err)
			c.recordErr = msg
			c.event(apitype.EventCallRecordFailed, msg)
		} else {
			r.sink = media.Tee(r.counter, rec)
		}
	}
	c.sinks[kind] = r
	return r, nil
}

func codecByPT(pt uint8) (media.Codec, bool) {
	for _, c := range media.Codecs {
		if c.PayloadType == pt {
			return c, true
		}
	}
	return media.Codec{}, false
}

// iceServers returns STUN/TURN servers with fresh credentials from the
// connected bootstraps (cached until shortly before they expire).
func (svc *Service) iceServers(ctx context.Context) []calltransport.ICEServer {
	svc.turnMu.Lock()
	defer svc.turnMu.Unlock()
	if time.Until(svc.turnExpires) > time.Minute && (svc.turnCovers() || time.Since(svc.turnFetched) < turnRefetchGap) {
		return svc.turnServers
	}
	var out []calltransport.ICEServer
	var exp time.Time
	svc.turnFrom, svc.turnFetched = svc.turnFrom[:0], time.Now()
	for _, bs := range svc.pres.Bootstraps() {
		if !svc.pres.Connected(bs.ID) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		cred, err := turncred.Request(rctx, svc.Host, bs.ID, svc.ID.AccountCert.Raw(), svc.ID.DeviceCert.Raw())
		cancel()
		if err != nil {
			svc.Log.Debug("no TURN credentials from bootstrap", "peer", bs.ID, "err", err)
			continue
		}
		urls := cred.URLs
		if svc.streamTURNWanted(bs.ID) {
			urls = streamTURNURLs(urls, bs.ID)
		}
		for _, u := range urls {
			out = append(out, calltransport.ICEServer{URL: u, Username: cred.Username, Password: cred.Password})
		}
		svc.turnFrom = append(svc.turnFrom, bs.ID)
		if exp.IsZero() || cred.Expires.Before(exp) {
			exp = cred.Expires
		}
	}
	svc.turnServers, svc.turnExpires = out, exp
	return out
}

// streamTURNWanted reports whether this device should also reach bootstrap
// p's TURN server over a libp2p stream (internal/turnstream, one more
// allocation per leg): when p serves the protocol and none of this
// device's connections to p is over UDP (QUIC). A device whose UDP to the
// bootstrap works uses TURN over UDP and never pays for it; one whose
// network lets only TCP to port 443 out has its libp2p connection there
// and no other way to TURN. A UDP-blocked device takes it too, instead of
// TURN over TCP to the TURN port (streamTURNURLs).
func (svc *Service) streamTURNWanted(p peer.ID) bool {
	if ok, err := svc.Host.Peerstore().SupportsProtocols(p, turnstream.ID); err != nil || len(ok) == 0 {
		return false
	}
	conns := svc.Host.Network().ConnsToPeer(p)
	for _, c := range conns {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_UDP); err == nil {
			return false
		}
	}
	return len(conns) > 0
}

// streamTURNURLs replaces a bootstrap's TURN-over-TCP URLs with its TURN
// stream URL: the stream runs over the TCP connection the device already
// holds to that bootstrap, so a TCP connection to its TURN port adds
// nothing when it works, and when it does not (only TCP 443 leaves the
// network) its dial hangs until the dialer's timeout, holding up the end
// of every call leg. So a device that takes the stream makes as many
// allocations as before (UDP and one over TCP).
func streamTURNURLs(urls []string, p peer.ID) []string {
	out := make([]string, 0, len(urls)+1)
	for _, u := range urls {
		if !(strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport=tcp")) {
			out = append(out, u)
		}
	}
	return append(out, turnstream.URL(p))
}

// turnRefetchGap is the least time between two credential rounds made
// because a connected bootstrap is missing from the cached servers (it
// refused, or was not connected then). It is short: the round that
// matters is the one of an ICE restart after a relay died, and a
// bootstrap that refused because it did not hold the account record yet
// forgets that verdict as soon as the record reaches it. (At 5 s, a
// relayed call whose TURN server died 3.5 s after the first round
// restarted with no relay at all, and its restarts then crossed the
// peer's for seconds: the NAT lab's relay failover.)
const turnRefetchGap = time.Second

// turnCovers reports whether the cached TURN servers include every
// bootstrap connected now; svc.turnMu is held. A bootstrap that refused at
// first (it did not hold the account record yet) or connected later would
// otherwise be left out until the credentials expire, and a call whose
// relay dies could not move to it.
func (svc *Service) turnCovers() bool {
	for _, bs := range svc.pres.Bootstraps() {
		if svc.pres.Connected(bs.ID) && !slices.Contains(svc.turnFrom, bs.ID) {
			return false
		}
	}
	return true
}
