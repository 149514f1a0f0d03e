package natlab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/node/media"
	"github.com/parleyhq/parley/test/wait"
)

// Move is one step of a network-change run: the host of site Host moves
// onto the LAN of site To (see Lab.MoveHost).
type Move struct {
	Host, To *Site
	// Who names the daemon on Host ("caller" or "callee"), for reports.
	Who string
}

// MoveResult is what one move cost the call.
type MoveResult struct {
	Move
	// CallerGap and CalleeGap are the longest silence each end heard
	// after the move (0: none of 100 ms or more).
	CallerGap, CalleeGap time.Duration
	// Resumed is how long after the move both ends received media again.
	Resumed time.Duration
	// Path is the caller's path once media flowed again.
	Path apitype.CallPath
}

// resumeTimeout bounds the wait for media after a move or a relay's end.
const resumeTimeout = 30 * time.Second

// gapWatch follows the gaps of both ends of a call across one disruption.
type gapWatch struct {
	s        *Session
	id       string
	from, to *Daemon
	before   [2]int // gaps each end had recorded before
	packets  [2]uint64
	start    time.Time
}

func (s *Session) watchGaps(ctx context.Context, id string, from, to *Daemon) (*gapWatch, error) {
	g := &gapWatch{s: s, id: id, from: from, to: to}
	for i, d := range []*Daemon{from, to} {
		c, err := d.Call(ctx, id)
		if err != nil {
			return nil, err
		}
		r := End{Call: c}.Received()
		g.before[i], g.packets[i] = len(r.GapsMS), r.Packets
	}
	g.start = time.Now()
	return g, nil
}

// wait waits until both ends receive media again after the disruption
// (a new gap recorded and packets arriving since, or no gap at all after
// a while) and returns the longest new gap at each end.
func (g *gapWatch) wait(ctx context.Context) (gaps [2]time.Duration, resumed time.Duration, path apitype.CallPath, err error) {
	err = wait.For(ctx, resumeTimeout, func() error {
		var calls [2]apitype.Call
		for i, d := range []*Daemon{g.from, g.to} {
			c, err := d.Call(ctx, g.id)
			if err != nil {
				return wait.Stop(err)
			}
			if c.State == "ended" {
				return wait.Stop(fmt.Errorf("the call ended at the %s: %s", []string{"caller", "callee"}[i], c.Reason))
			}
			calls[i] = c
		}
		since := time.Since(g.start)
		for i, c := range calls {
			r := End{Call: c}.Received()
			if len(r.GapsMS) >= media.MaxGaps {
				return wait.Stop(errors.New("too many gaps to tell the new ones"))
			}
			newGaps := r.GapsMS[min(g.before[i], len(r.GapsMS)):]
			switch {
			case len(newGaps) > 0 && r.Packets > g.packets[i]+10:
				gaps[i] = time.Duration(slices.Max(newGaps) * float64(time.Millisecond))
			case len(newGaps) == 0 && since > 3*time.Second && r.Packets > g.packets[i]+100:
				gaps[i] = 0 // no silence of 100 ms or more
			default:
				return fmt.Errorf("no media at the %s yet", []string{"caller", "callee"}[i])
			}
		}
		resumed = since
		path = calls[0].Path
		return nil
	})
	return gaps, resumed, path, err
}

// RunMoves places a call from the session's caller to its callee and
// makes the moves one at a time, each once media flows again both ways
// and has for settle. It returns the call ID and what each move cost; the
// call is hung up at the end. An error means a move cost the call
// (media did not come back within 30 s, or the call ended).
func (s *Session) RunMoves(ctx context.Context, caller, callee Kind, moves []Move, settle time.Duration) (string, []MoveResult, error) {
	from, to := s.Callers[caller], s.Callees[callee]
	if from == nil || to == nil {
		return "", nil, fmt.Errorf("%w: no %v caller or %v callee in this session", ErrBadOptions, caller, callee)
	}
	id, err := s.placeCall(ctx, from, to)
	if err != nil {
		return "", nil, err
	}
	defer func() { _, _ = from.CLI(context.WithoutCancel(ctx), "hangup", id) }()
	var out []MoveResult
	for _, m := range moves {
		if err := s.steady(ctx, from, to, id, settle); err != nil {
			return id, out, err
		}
		g, err := s.watchGaps(ctx, id, from, to)
		if err != nil {
			return id, out, err
		}
		if err := s.Lab.MoveHost(ctx, m.Host, m.To); err != nil {
			return id, out, err
		}
		gaps, resumed, path, err := g.wait(ctx)
		if err != nil {
			return id, out, fmt.Errorf("after moving the %s from site %d to site %d: %w", m.Who, m.Host.Index, m.To.Index, err)
		}
		out = append(out, MoveResult{Move: m, CallerGap: gaps[0], CalleeGap: gaps[1], Resumed: resumed, Path: path})
		s.Lab.logf("natlab: %s moved to site %d (%v): gaps caller %v, callee %v; path %s", m.Who, m.To.Index, m.To.Kind,
			gaps[0], gaps[1], pathText(path))
	}
	return id, out, s.steady(ctx, from, to, id, settle)
}

// placeCall calls the callee with the caller's tone and returns once both
// ends receive media.
func (s *Session) placeCall(ctx context.Context, from, to *Daemon) (string, error) {
	var c apitype.Call
	if err := from.CLIJSON(ctx, &c, "call", to.AccountID, "--audio", fmt.Sprintf("tone:%d", CallerToneHz),
		"--wait", callWait.String()); err != nil {
		return "", err
	}
	if _, err := to.WaitCall(ctx, c.ID, func(c apitype.Call) bool { return c.SetupMS != 0 }); err != nil {
		return c.ID, err
	}
	return c.ID, nil
}

// steady checks that media flows both ways for d: each end receives at
// least 60% of the 50 packets a second the peer's tone sends.
func (s *Session) steady(ctx context.Context, from, to *Daemon, id string, d time.Duration) error {
	var start [2]uint64
	for i, dm := range []*Daemon{from, to} {
		c, err := dm.Call(ctx, id)
		if err != nil {
			return err
		}
		start[i] = End{Call: c}.Received().Packets
	}
	until := time.Now().Add(d)
	return wait.For(ctx, 0, func() error {
		var got [2]uint64
		for i, dm := range []*Daemon{from, to} {
			c, err := dm.Call(ctx, id)
			if err != nil {
				return wait.Stop(err)
			}
			if c.State == "ended" {
				return wait.Stop(fmt.Errorf("the call ended: %s", c.Reason))
			}
			got[i] = End{Call: c}.Received().Packets - start[i]
		}
		if time.Now().Before(until) {
			return errors.New("steady period not over")
		}
		want := uint64(d.Seconds() * 50 * 0.6)
		for i := range got {
			if got[i] < want {
				return wait.Stop(fmt.Errorf("the %s received %d packets in %v, want at least %d", []string{"caller", "callee"}[i], got[i], d, want))
			}
		}
		return nil
	})
}

// pathText describes a call path in one line.
func pathText(p apitype.CallPath) string {
	if p.Kind == "" {
		return "no path"
	}
	return fmt.Sprintf("%s (%s→%s over %s)", p.Kind, p.Local, p.Remote, p.Network)
}
