package natlab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/daemon"
	"github.com/parleyhq/parley/test/proc"
	"github.com/parleyhq/parley/test/wait"
)

// Tones the two ends send: the caller `--audio tone:700`, the callee
// answers automatically with the default tone.
const (
	CallerToneHz = 700
	CalleeToneHz = 440
)

// callWait is how long `parley call --wait` waits for the call to connect.
const callWait = 20 * time.Second

// Cast says who runs where in a session: one caller daemon per kind in
// Callers and one callee daemon per kind in Callees, each at a site of its
// own, so every caller kind can call every callee kind (the diagonal
// included) without restarting anything.
type Cast struct {
	Callers, Callees []Kind
}

// FullCast has a caller and a callee of every kind: the 16 cells.
var FullCast = Cast{Callers: Kinds, Callees: Kinds}

// Sites are the lab sites of the cast: the callers' first, then the
// callees', all with the same uplink delay and loss.
func (c Cast) Sites(delay time.Duration, loss float64) []SiteConfig {
	var sites []SiteConfig
	for _, k := range append(slices.Clone(c.Callers), c.Callees...) {
		sites = append(sites, SiteConfig{Kind: k, Delay: delay, Loss: loss})
	}
	return sites
}

// SessionOptions describes what runs in a session's lab.
type SessionOptions struct {
	// Bins are the Parley binaries (see Build).
	Bins daemon.Binaries
	// Dir holds the bootstrap's and daemons' data directories.
	Dir string
	// LogLevel is the daemons' log level. Defaults to "info".
	LogLevel string
	// BootstrapArgs are extra parley-bootstrap flags.
	BootstrapArgs []string
}

// Session is a running cast: a bootstrap, the daemons, every caller a
// contact of every callee, and the callees answering calls from contacts
// automatically.
type Session struct {
	Lab       *Lab
	Bootstrap *daemon.Bootstrap
	// Bootstrap2 is the second bootstrap, when the lab has a second
	// server host (StartPair starts it there).
	Bootstrap2 *daemon.Bootstrap
	Callers    map[Kind]*Daemon
	Callees    map[Kind]*Daemon
	// Ready is how long the start took, and ReachableAfter how long the
	// slowest NATed daemon needed to hold a relay reservation after it
	// started (AutoNAT finding it private, then the reservation).
	Ready, ReachableAfter time.Duration
	o                     SessionOptions
}

// StartSession starts the bootstrap and the cast's daemons in lab l (built
// from cast.Sites), waits until every NATed daemon holds a relay
// reservation, makes every caller a contact of every callee and turns on
// auto-answer at the callees. The processes belong to the lab: Lab.Down
// stops them, also after an error here.
func StartSession(ctx context.Context, l *Lab, cast Cast, o SessionOptions) (*Session, error) {
	if len(l.Sites()) != len(cast.Callers)+len(cast.Callees) {
		return nil, fmt.Errorf("%w: lab has %d sites, the cast needs %d", ErrBadOptions, len(l.Sites()), len(cast.Callers)+len(cast.Callees))
	}
	start := time.Now()
	s := &Session{Lab: l, o: o, Callers: map[Kind]*Daemon{}, Callees: map[Kind]*Daemon{}}
	if s.o.LogLevel == "" {
		s.o.LogLevel = "info"
	}
	var err error
	if s.Bootstrap, err = l.StartBootstrap(ctx, o.Bins, filepath.Join(o.Dir, "bootstrap"), o.BootstrapArgs...); err != nil {
		return nil, err
	}
	var all []*Daemon
	for i, site := range l.Sites() {
		role, m := "caller", s.Callers
		if i >= len(cast.Callers) {
			role, m = "callee", s.Callees
		}
		if _, dup := m[site.Kind]; dup {
			return nil, fmt.Errorf("%w: two %ss of kind %v", ErrBadOptions, role, site.Kind)
		}
		name := role + "-" + site.Kind.String()
		d, err := l.NewDaemon(ctx, o.Bins, site, name, filepath.Join(o.Dir, name), s.o.LogLevel)
		if err != nil {
			return nil, err
		}
		m[site.Kind] = d
		all = append(all, d)
	}
	if err := s.startDaemons(ctx, all); err != nil {
		return nil, err
	}
	if err := s.befriendAll(ctx, cast); err != nil {
		return nil, err
	}
	s.Ready = time.Since(start)
	l.logf("natlab: session ready in %v (relay reservations after %v)", s.Ready.Round(time.Millisecond), s.ReachableAfter.Round(time.Millisecond))
	return s, nil
}

// startDaemons starts every daemon at once, then waits for each NATed one
// to hold a relay reservation: until then nobody can open a stream to it.
func (s *Session) startDaemons(ctx context.Context, ds []*Daemon) error {
	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	for _, d := range ds {
		g.Go(func() error {
			start := time.Now()
			if err := d.Start(gctx, s.bootAddrs()); err != nil {
				return err
			}
			if !d.Site.Kind.NATed() {
				return nil
			}
			if err := d.waitRelayAddr(gctx); err != nil {
				return err
			}
			mu.Lock()
			s.ReachableAfter = max(s.ReachableAfter, time.Since(start))
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// befriendAll makes every caller a contact of every callee, a few pairs at
// a time, and turns on auto-answer at the callees.
func (s *Session) befriendAll(ctx context.Context, cast Cast) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, ck := range cast.Callers {
		for _, ek := range cast.Callees {
			g.Go(func() error { return daemon.Befriend(gctx, s.Callers[ck].Parleyd, s.Callees[ek].Parleyd) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, k := range cast.Callees {
		if _, err := s.Callees[k].CLI(ctx, "set", "calls.auto_answer", "contacts"); err != nil {
			return err
		}
	}
	return nil
}

// End is one end of a measured call.
type End struct {
	// Setup is the time from running `parley call` to this end's first
	// decrypted media packet (0 when none arrived).
	Setup time.Duration
	// Call is the end's final view of the call, taken after the media
	// period and before hangup.
	Call apitype.Call
}

// Received is the end's receive stream of kind audio.
func (e End) Received() apitype.Stream {
	s, _ := daemon.Stream(e.Call, "receive", "audio")
	return s
}

// Sent is the end's send stream of kind audio.
func (e End) Sent() apitype.Stream {
	s, _ := daemon.Stream(e.Call, "send", "audio")
	return s
}

// LossRate is the share of the peer's packets this end counted as lost.
func (e End) LossRate() float64 {
	r := e.Received()
	if r.Packets+uint64(max(r.Lost, 0)) == 0 {
		return 0
	}
	return float64(max(r.Lost, 0)) / float64(r.Packets+uint64(max(r.Lost, 0)))
}

// CallResult is one measured call.
type CallResult struct {
	Caller, Callee Kind
	Delay          time.Duration
	// ID is the call ID ("" when `parley call` failed before one existed).
	ID string
	// Connected is true when both ends decrypted media.
	Connected bool
	// Err says what went wrong, when something did.
	Err string
	// CallerEnd and CalleeEnd are the two ends.
	CallerEnd, CalleeEnd End
	// Media is how long media flowed before the ends were read.
	Media time.Duration
	// Start is when `parley call` was run; the ends' timelines are
	// placed on this clock (every namespace shares the kernel's).
	Start time.Time
}

// Setup is the time from `parley call` until both ends had decrypted
// media (the later of the two ends).
func (r CallResult) Setup() time.Duration { return max(r.CallerEnd.Setup, r.CalleeEnd.Setup) }

// Call places one call from the caller of one kind to the callee of another, lets media flow for
// the given time, reads both ends and hangs up. A call that fails is
// reported in the result (Connected false, Err set), not as an error; the
// error is for the lab itself failing (ctx ended, a daemon died).
func (s *Session) Call(ctx context.Context, caller, callee Kind, media time.Duration) (CallResult, error) {
	from, to := s.Callers[caller], s.Callees[callee]
	if from == nil || to == nil {
		return CallResult{}, fmt.Errorf("%w: no %v caller or %v callee in this session", ErrBadOptions, caller, callee)
	}
	r := CallResult{Caller: caller, Callee: callee, Delay: from.Site.Delay}
	t0 := time.Now()
	r.Start = t0
	var c apitype.Call
	err := from.CLIJSON(ctx, &c, "call", to.AccountID, "--audio", fmt.Sprintf("tone:%d", CallerToneHz),
		"--wait", callWait.String())
	if err != nil {
		r.Err = err.Error()
		var cs []apitype.Call
		if from.CLIJSON(ctx, &cs, "calls") == nil && len(cs) > 0 {
			r.ID = cs[len(cs)-1].ID
		}
		return r, s.alive(from, to)
	}
	r.ID = c.ID
	connected := c.Started.Add(msDuration(c.SetupMS))
	r.CallerEnd.Setup = connected.Sub(t0)
	// The callee's first media time comes from its own record.
	cc, err := to.WaitCall(ctx, c.ID, func(c apitype.Call) bool { return c.SetupMS != 0 })
	if err != nil {
		r.Err = err.Error()
		_, _ = from.CLI(ctx, "hangup", c.ID)
		return r, s.alive(from, to)
	}
	r.CalleeEnd.Setup = cc.Started.Add(msDuration(cc.SetupMS)).Sub(t0)
	r.Connected = true
	if err := s.flow(ctx, from, to, &r, media); err != nil {
		r.Err = err.Error()
	}
	if _, err := from.CLI(ctx, "hangup", c.ID); err != nil && r.Err == "" {
		r.Err = err.Error()
	}
	if _, err := to.WaitCall(ctx, c.ID, wait.CallIs("ended")); err != nil && r.Err == "" {
		r.Err = err.Error()
	}
	return r, s.alive(from, to)
}

// flow waits out the media period from the later first packet, checking
// that neither end hangs up early, then reads both ends.
func (s *Session) flow(ctx context.Context, from, to *Daemon, r *CallResult, media time.Duration) error {
	until := time.Now().Add(media)
	return wait.For(ctx, 0, func() error {
		var err error
		if r.CallerEnd.Call, err = from.Call(ctx, r.ID); err != nil {
			return wait.Stop(err)
		}
		if r.CalleeEnd.Call, err = to.Call(ctx, r.ID); err != nil {
			return wait.Stop(err)
		}
		for _, e := range []End{r.CallerEnd, r.CalleeEnd} {
			if e.Call.State == "ended" {
				return wait.Stop(fmt.Errorf("call ended during media: %s", e.Call.Reason))
			}
		}
		if time.Now().Before(until) {
			return errors.New("media period not over") // the media period, polled
		}
		r.Media = media
		return nil
	})
}

// alive reports a lab-level failure: a process that should run ended.
func (s *Session) alive(ds ...*Daemon) error {
	procs := []*proc.Proc{s.Bootstrap.Proc}
	for _, d := range ds {
		procs = append(procs, d.Proc)
	}
	for _, p := range procs {
		if p.Exited() {
			return fmt.Errorf("natlab: %v:\n%s", p, p.Output())
		}
	}
	return nil
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
