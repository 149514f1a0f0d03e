package calltransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/srtp/v3"
)

// Leg is one ICE session between this device and one peer device: the
// transport of a one-to-one call, or of one edge of a group call's mesh.
// Its methods are safe for concurrent use.
//
// The life of a leg: [NewLeg]; send [Leg.LocalCredentials] to the peer;
// [Leg.OnCandidate] to trickle local candidates; optionally [Leg.Gather]
// to gather them while the peer's answer is on its way; [Leg.Start] with the
// peer's credentials; [Leg.AddRemoteCandidate] for each candidate the peer
// trickles; [Leg.WaitConnected]; [Leg.StartMedia] with the call's keys;
// [Leg.Close].
type Leg struct {
	cfg   resolved
	log   *slog.Logger
	logf  *pionLogFactory
	agent *ice.Agent

	connected chan struct{} // closed when a pair is first selected and Path knows it
	failed    chan struct{} // closed when ICE fails or setup is aborted
	closed    chan struct{} // closed by Close
	connOnce  sync.Once
	failOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	candMu    sync.Mutex // guards onCand and heldCands; held while onCand runs
	onCand    func(string)
	heldCands []string // gathered before OnCandidate was set

	mu         sync.Mutex // guards the fields below
	gathering  bool
	started    bool
	conn       *ice.Conn
	media      *Media
	remotes    int
	maxRemotes int
	failErr    error
	path       Path // selected pair, without RTT
	// remoteRelays holds the host:port of each relay candidate the peer
	// sent, to recognise a peer-reflexive pair at one of them (see Path).
	remoteRelays map[string]bool

	probeMu sync.Mutex  // guards probes; taken on pion's agent loop
	probes  []probePair // renomination probes to send (see renominate.go)
}

// Path describes the candidate pair a leg is using.
type Path struct {
	// Local and Remote are the candidate types: "host", "srflx",
	// "prflx" or "relay". Both are empty while there is no pair.
	Local, Remote string
	// Network is the transport this device's packets leave on: "udp",
	// or for a local relay candidate the transport to the TURN server
	// ("udp", "tcp" or "tls").
	Network string
	// LocalAddress and RemoteAddress are the pair's host:port.
	LocalAddress, RemoteAddress string
	// RTT is the latest round-trip time of an ICE check on the pair.
	RTT time.Duration
}

// NewLeg creates a leg. It opens no socket until [Leg.Start].
func NewLeg(cfg Config) (*Leg, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, fmt.Errorf("calltransport: new leg: %w", err)
	}
	role := "controlled"
	if r.Controlling {
		role = "controlling"
	}
	l := &Leg{
		cfg:        r,
		log:        r.Logger.With("ufrag", r.LocalUfrag, "role", role),
		connected:  make(chan struct{}),
		failed:     make(chan struct{}),
		closed:     make(chan struct{}),
		maxRemotes: MaxRemoteCandidates,
	}
	l.logf = newPionLogFactory(l.log, r.secrets)
	l.agent, err = ice.NewAgentWithOptions(r.agentOptions(l.logf, l.onBindingRequest)...)
	if err != nil {
		return nil, fmt.Errorf("calltransport: new leg: %w", err)
	}
	if err := l.registerHandlers(); err != nil {
		_ = l.agent.GracefulClose()
		return nil, fmt.Errorf("calltransport: new leg: %w", err)
	}
	return l, nil
}

func (l *Leg) registerHandlers() error {
	return errors.Join(
		l.agent.OnCandidate(l.handleCandidate),
		l.agent.OnConnectionStateChange(l.handleState),
		l.agent.OnSelectedCandidatePairChange(l.handleSelected),
	)
}

// LocalCredentials returns this leg's ICE ufrag and password, for the
// peer (the new ones after [Leg.Restart]).
func (l *Leg) LocalCredentials() (ufrag, pwd string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg.LocalUfrag, l.cfg.LocalPwd
}

// OnCandidate sets the function that receives each local candidate to
// trickle to the peer, and "" when gathering is done. Candidates gathered
// before it is set (a leg gathered ahead of a call, see [Leg.Gather]) are
// kept and passed to fn first, in order. fn is called for one candidate at
// a time, in order; it must not block for long nor call [Leg.Close].
func (l *Leg) OnCandidate(fn func(candidate string)) {
	l.candMu.Lock()
	defer l.candMu.Unlock()
	l.onCand = fn
	held := l.heldCands
	l.heldCands = nil
	for _, s := range held {
		fn(s)
	}
}

// maxHeldCandidates bounds the candidates kept for a leg with no
// OnCandidate function yet (a host address per interface, one
// server-reflexive and one relay candidate per server, the end marker).
const maxHeldCandidates = 64

func (l *Leg) handleCandidate(c ice.Candidate) {
	s := ""
	if c != nil {
		s = c.Marshal()
		l.log.Debug("local candidate", "type", c.Type().String(), "network", c.NetworkType().String())
	} else {
		l.log.Debug("gathering done")
	}
	l.candMu.Lock()
	defer l.candMu.Unlock()
	if l.onCand == nil {
		if len(l.heldCands) < maxHeldCandidates {
			l.heldCands = append(l.heldCands, s)
		}
		return
	}
	l.onCand(s)
}

func (l *Leg) handleState(s ice.ConnectionState) {
	// Every state change is for debugging; what an operator needs (the
	// selected path, the call's end and why) is logged at Info elsewhere.
	level := slog.LevelDebug
	if s == ice.ConnectionStateFailed {
		level = slog.LevelInfo
	}
	l.log.Log(context.Background(), level, "ICE state", "state", s.String())
	if s == ice.ConnectionStateFailed {
		l.mu.Lock()
		l.path = Path{} // pion has dropped every pair
		l.mu.Unlock()
		l.fail(ErrFailed)
	}
}

func (l *Leg) handleSelected(local, remote ice.Candidate) {
	p := Path{
		Local:         local.Type().String(),
		Remote:        remote.Type().String(),
		Network:       local.NetworkType().NetworkShort(),
		LocalAddress:  net.JoinHostPort(local.Address(), strconv.Itoa(local.Port())),
		RemoteAddress: net.JoinHostPort(remote.Address(), strconv.Itoa(remote.Port())),
	}
	if r, ok := local.(*ice.CandidateRelay); ok {
		p.Network = r.RelayProtocol()
	}
	l.log.Info("selected path", "local", p.Local, "remote", p.Remote, "network", p.Network)
	l.mu.Lock()
	l.path = p
	l.mu.Unlock()
	// Connected is signalled here rather than on pion's Connected state:
	// the two notifications come from different goroutines, and
	// WaitConnected must not return before Path knows the pair.
	l.connOnce.Do(func() {
		close(l.connected)
		// Added under l.mu, which Close holds while it closes l.closed,
		// so that Close's wg.Wait sees it or it never starts.
		l.mu.Lock()
		if l.cfg.Controlling && l.cfg.RenominationInterval > 0 && !l.isClosed() {
			l.wg.Add(1)
			go l.probeLoop()
		}
		l.mu.Unlock()
	})
}

// fail records why the leg failed (the first reason wins) and wakes
// WaitConnected and media readers.
func (l *Leg) fail(err error) {
	l.mu.Lock()
	if l.failErr == nil {
		l.failErr = err
	}
	l.mu.Unlock()
	l.failOnce.Do(func() { close(l.failed) })
}

func (l *Leg) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Gather starts gathering local candidates (host addresses, a STUN query
// and a TURN allocation per server) and returns at once; each goes to the
// [Leg.OnCandidate] function as it comes. Calling it before the peer's
// credentials are known overlaps gathering (a TURN allocation takes two
// round trips to the server) with the signalling round trip; [Leg.Start]
// gathers if Gather was not called. Only the first call does anything.
func (l *Leg) Gather() error {
	l.mu.Lock()
	switch {
	case l.isClosed():
		l.mu.Unlock()
		return fmt.Errorf("calltransport: gather: %w", ErrClosed)
	case l.gathering:
		l.mu.Unlock()
		return nil
	}
	l.gathering = true
	l.mu.Unlock()
	if err := l.agent.GatherCandidates(); err != nil {
		return fmt.Errorf("calltransport: gather: %w", err)
	}
	return nil
}

// Start begins gathering local candidates (unless [Leg.Gather] did) and
// connectivity checks with the peer's ICE credentials, and returns at once. ctx bounds connection setup
// only: if it ends before the leg connects, the leg gives up and
// [Leg.WaitConnected] returns an error wrapping [ErrFailed] and the
// context's error; once connected, ctx no longer matters.
func (l *Leg) Start(ctx context.Context, remoteUfrag, remotePwd string) error {
	if err := validateCredentials(remoteUfrag, remotePwd); err != nil {
		return fmt.Errorf("calltransport: start: remote: %w", err)
	}
	l.mu.Lock()
	switch {
	case l.isClosed():
		l.mu.Unlock()
		return fmt.Errorf("calltransport: start: %w", ErrClosed)
	case l.started:
		l.mu.Unlock()
		return fmt.Errorf("calltransport: start: %w", ErrAlreadyStarted)
	}
	l.started = true
	l.mu.Unlock()
	l.logf.addSecret(remotePwd)

	if err := l.Gather(); err != nil {
		return fmt.Errorf("calltransport: start: %w", err)
	}
	var (
		conn *ice.Conn
		err  error
	)
	if l.cfg.Controlling {
		conn, err = l.agent.StartDial(remoteUfrag, remotePwd)
	} else {
		conn, err = l.agent.StartAccept(remoteUfrag, remotePwd)
	}
	if err != nil {
		return fmt.Errorf("calltransport: start: %w", err)
	}
	l.mu.Lock()
	l.conn = conn
	l.mu.Unlock()
	l.watchSetup(ctx)
	return nil
}

// watchSetup aborts the leg if ctx ends before it connects.
func (l *Leg) watchSetup(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		select {
		case <-l.connected:
			return
		default:
		}
		l.fail(fmt.Errorf("%w: setup aborted: %w", ErrFailed, context.Cause(ctx)))
		_ = l.agent.Close() // stop checks now; Close waits for goroutines later
	})
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		select {
		case <-l.connected:
		case <-l.failed:
		case <-l.closed:
		}
		stop()
	}()
}

// WaitConnected blocks until the leg has a working candidate pair. It
// returns an error wrapping [ErrFailed] if ICE gave up (also after having
// been connected), [ErrClosed] after Close, or ctx's error.
func (l *Leg) WaitConnected(ctx context.Context) error {
	select {
	case <-l.failed:
		return fmt.Errorf("calltransport: wait connected: %w", l.failure())
	case <-l.closed:
		return fmt.Errorf("calltransport: wait connected: %w", ErrClosed)
	default:
	}
	select {
	case <-l.connected:
		return nil
	case <-l.failed:
		return fmt.Errorf("calltransport: wait connected: %w", l.failure())
	case <-l.closed:
		return fmt.Errorf("calltransport: wait connected: %w", ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("calltransport: wait connected: %w", ctx.Err())
	}
}

func (l *Leg) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failErr
}

// Path returns the candidate pair in use, or the zero Path while there is
// none (before connecting, after ICE failed, after Close). After a
// renomination it describes the new pair.
//
// A remote candidate pion learnt as peer-reflexive (a check arrived from
// it before the candidate itself was signalled) is reported as "relay"
// when its address is that of a relay candidate the peer sent since: the
// peer's checks came from its TURN allocation, which happens when they
// outrun the signalling that carries the relay candidate, and pion keeps
// the pair typed prflx. Without this a relayed call could show as direct.
func (l *Leg) Path() Path {
	if l.isClosed() {
		return Path{}
	}
	l.mu.Lock()
	p := l.path
	if p.Remote == ice.CandidateTypePeerReflexive.String() && l.remoteRelays[p.RemoteAddress] {
		p.Remote = ice.CandidateTypeRelay.String()
	}
	l.mu.Unlock()
	if p.Local == "" {
		return p
	}
	if st, ok := l.agent.GetSelectedCandidatePairStats(); ok {
		p.RTT = time.Duration(st.CurrentRoundTripTime * float64(time.Second))
	}
	return p
}

// Restart restarts ICE on a started leg (RFC 8445 §2.4), for a network
// change or a path that went silent: the agent takes new local
// credentials, drops every candidate, pair and TURN allocation, and
// gathers anew. The media session stays, with its keys and SRTP indexes
// (no nonce is reused): writes fail until a new pair is selected, then
// packets flow again on the same [Media].
//
// announce is called with the new local credentials after the agent
// restarted and before the first new candidate is gathered, so that the
// peer learns them before any candidate (it must not block for long).
// remoteUfrag and remotePwd are the peer's new credentials when they are
// known already (answering the peer's restart); otherwise pass "" and
// call [Leg.SetRemoteCredentials] when they arrive. A leg whose ICE has
// failed, or that is closed or not started, cannot restart.
func (l *Leg) Restart(remoteUfrag, remotePwd string, announce func(ufrag, pwd string)) error {
	if remoteUfrag != "" || remotePwd != "" {
		if err := validateCredentials(remoteUfrag, remotePwd); err != nil {
			return fmt.Errorf("calltransport: restart: remote: %w", err)
		}
	}
	l.mu.Lock()
	switch {
	case l.isClosed():
		l.mu.Unlock()
		return fmt.Errorf("calltransport: restart: %w", ErrClosed)
	case !l.started:
		l.mu.Unlock()
		return fmt.Errorf("calltransport: restart: %w", ErrNotStarted)
	case l.failErr != nil:
		err := l.failErr
		l.mu.Unlock()
		return fmt.Errorf("calltransport: restart: %w", err)
	}
	ufrag, pwd := NewCredentials()
	l.logf.addSecret(pwd)
	l.cfg.LocalUfrag, l.cfg.LocalPwd = ufrag, pwd
	l.remotes = 0
	l.remoteRelays = nil
	l.path = Path{}
	l.mu.Unlock()
	l.log.Info("ICE restart")
	if err := l.agent.Restart(ufrag, pwd); err != nil {
		return fmt.Errorf("calltransport: restart: %w", err)
	}
	if remoteUfrag != "" {
		if err := l.SetRemoteCredentials(remoteUfrag, remotePwd); err != nil {
			return fmt.Errorf("calltransport: restart: %w", err)
		}
	}
	if announce != nil {
		announce(ufrag, pwd)
	}
	if err := l.agent.GatherCandidates(); err != nil {
		return fmt.Errorf("calltransport: restart: gather: %w", err)
	}
	return nil
}

// SetServers replaces the leg's STUN and TURN servers for the next
// gathering, that of the next [Leg.Restart]: TURN credentials expire, and
// an allocation refreshed with expired ones dies. A RelayOnly leg needs a
// TURN server among them.
func (l *Leg) SetServers(servers []ICEServer) error {
	l.mu.Lock()
	if slices.Equal(servers, l.cfg.Config.Servers) {
		// Unchanged (the cached credentials of the last restart): no
		// update, which pion applies on its loop while a gathering
		// still under way reads the servers unlocked.
		l.mu.Unlock()
		return nil
	}
	l.cfg.Config.Servers = slices.Clone(servers)
	r := resolved{Config: l.cfg.Config}
	l.mu.Unlock()
	r.Servers = servers
	if err := r.parseServers(); err != nil {
		return fmt.Errorf("calltransport: set servers: %w", err)
	}
	for _, sec := range r.secrets {
		l.logf.addSecret(sec)
	}
	if err := l.agent.UpdateOptions(ice.WithUrls(r.urls)); err != nil {
		return fmt.Errorf("calltransport: set servers: %w", err)
	}
	return nil
}

// SetRemoteCredentials gives the leg the peer's new ICE credentials after
// a [Leg.Restart] this side started.
func (l *Leg) SetRemoteCredentials(ufrag, pwd string) error {
	if err := validateCredentials(ufrag, pwd); err != nil {
		return fmt.Errorf("calltransport: remote credentials: %w", err)
	}
	l.logf.addSecret(pwd)
	if err := l.agent.SetRemoteCredentials(ufrag, pwd); err != nil {
		return fmt.Errorf("calltransport: remote credentials: %w", err)
	}
	return nil
}

// StartMedia starts the SRTP session on this leg with the call's keys.
// profile 0 means [DefaultProfile] (AEAD_AES_128_GCM). It may be called
// as soon as [Leg.Start] returned: writes fail until a pair works, and
// whatever arrives is decrypted from the start. A leg carries one SRTP
// session in its life: a second call returns [ErrAlreadyStarted], since
// restarting with the same keys would reuse nonces.
func (l *Leg) StartMedia(k Keys, profile srtp.ProtectionProfile) (*Media, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.isClosed():
		return nil, fmt.Errorf("calltransport: start media: %w", ErrClosed)
	case l.conn == nil:
		return nil, fmt.Errorf("calltransport: start media: %w", ErrNotStarted)
	case l.media != nil:
		return nil, fmt.Errorf("calltransport: start media: %w", ErrAlreadyStarted)
	}
	m, err := newMedia(k, profile, &l.cfg, l.log)
	if err != nil {
		return nil, fmt.Errorf("calltransport: start media: %w", err)
	}
	m.start(l.conn, l.failed)
	l.media = m
	labKeyLog(k, profile)
	return m, nil
}

// Close closes the media, if any, and the ICE agent with its sockets and
// TURN allocations, and waits for every goroutine of the leg. Closing twice
// is harmless.
func (l *Leg) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.closed)
		m := l.media
		l.mu.Unlock()
		var errs []error
		if m != nil {
			errs = append(errs, m.Close())
		}
		errs = append(errs, l.agent.GracefulClose())
		l.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("calltransport: close: %w", err)
		}
	})
	return l.closeErr
}
