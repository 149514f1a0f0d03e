package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/alecthomas/kong"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

type callCmd struct {
	Account string        `arg:"" help:"Account ID or name of the contact to call; every online device of it rings."`
	Audio   string        `default:"tone" placeholder:"SRC" suggest:"tone=a 440 Hz test tone,tone:=tone:HZ: a tone of HZ (tone:700),rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP from ffmpeg,none=send no audio" help:"Audio to send: tone, tone:HZ, an Ogg/Opus file, rtp://127.0.0.1:PORT (e.g. from ffmpeg), or none."`
	Video   string        `placeholder:"SRC" suggest:"rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP from ffmpeg" help:"Video to send: an IVF file (VP8/VP9/AV1) or rtp://127.0.0.1:PORT."`
	Record  string        `placeholder:"DIR|rtp://…" suggest:"rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP to ffmpeg" help:"Where received media goes: a directory (new files in it: Opus to .ogg, PCMU to .wav, video to .ivf; mode 0600; an earlier recording is never replaced), a new .ogg/.wav/.ivf file (a stream it cannot hold goes to the same name with the extension that does: PCMU into call.ogg becomes call.wav), or rtp://127.0.0.1:PORT. Default: counted only."`
	Wait    time.Duration `min:"0s" max:"10m" help:"Stay until the call connects (up to this long) and print its SAS, path and setup time."`
	JSON    bool          `help:"Print JSON."`
}

func (c *callCmd) Run(g *globals) error {
	acct, err := accountArg(g.ctx, g, c.Account)
	if err != nil {
		return err
	}
	c.Account = acct
	// The request runs to its end even when interrupted: the call exists
	// by then (the callee may be ringing), and only its ID lets us hang
	// it up.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(g.ctx), time.Minute)
	defer cancel()
	// On a terminal, say what the wait is for: the lookup and the
	// connections happen inside the request; the steps after it come
	// as the call's events.
	pr := newProgress(g)
	ids := make(chan string, 1)
	stopFollow := func() {}
	if pr.on() && c.Wait > 0 {
		stopFollow = pr.followCall(g.ctx, g, ids)
	}
	defer func() { stopFollow() }()
	stop := pr.during(fmt.Sprintf("resolving %s's devices and connecting to them…", contactNames(g.ctx, g).of(c.Account)))
	call, err := g.client().StartCall(sctx, apitype.CallRequest{AccountID: c.Account, Audio: localSpec(c.Audio), Video: localSpec(c.Video), Record: localSpec(c.Record)})
	stop()
	if err == nil {
		pr.say("calling: call %s", call.ID)
		ids <- call.ID
	}
	if err != nil {
		if g.ctx.Err() != nil {
			return g.ctx.Err()
		}
		return err
	}
	if g.ctx.Err() != nil {
		return hangUpInterrupted(g, call.ID)
	}
	if c.Wait > 0 {
		id := call.ID
		if call, err = waitCall(g, id, c.Wait); err != nil {
			if g.ctx.Err() != nil {
				return hangUpInterrupted(g, id)
			}
			if errors.Is(err, errWaitedOut) {
				return hangUpWaitedOut(g, id, c.Wait)
			}
			return err
		}
	}
	stopFollow()
	stopFollow = func() {}
	return g.output(c.JSON, call, func(w io.Writer) {
		fmt.Fprintf(w, "Call %s to %s: %s\n", call.ID, contactNames(g.ctx, g).of(call.Peer), call.State)
		printCall(w, *call)
		if c.Wait == 0 {
			fmt.Fprintln(w, "Follow it with: parley calls   (or parley events)")
		}
	})
}

// hangUpInterrupted ends a call whose wait the user interrupted (Ctrl-C),
// so that the other side stops ringing at once.
func hangUpInterrupted(g *globals, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.client().CallAction(ctx, "hangup", apitype.CallAction{CallID: id}); err != nil {
		fmt.Fprintf(g.stderr, "parley: interrupted; the call %s may still be ringing: parley hangup %s (%s)\n", id, id, safe(err.Error()))
	} else {
		fmt.Fprintf(g.stderr, "parley: interrupted: call %s hung up\n", id)
	}
	return exitCode(130)
}

// errWaitedOut is waitCall's error when the call did not connect within
// the wait.
var errWaitedOut = errors.New("the call did not connect in time")

// hangUpWaitedOut ends a call that did not connect within --wait, so the
// other side does not go on ringing after the command has given up.
func hangUpWaitedOut(g *globals, id string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.client().CallAction(ctx, "hangup", apitype.CallAction{CallID: id}); err != nil {
		return fmt.Errorf("the call did not connect within %v and could not be hung up (%s): parley hangup %s", wait, safe(err.Error()), id)
	}
	return fmt.Errorf("the call did not connect within %v, so it was hung up (a longer --wait gives it more time; without --wait it rings until answered or for 60 s)", wait)
}

// waitCall polls until the call is connected with media (or ended).
func waitCall(g *globals, id string, limit time.Duration) (*apitype.Call, error) {
	deadline := time.Now().Add(limit)
	for {
		cs, err := g.client().Calls(g.ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.ID != id {
				continue
			}
			if c.State == "ended" {
				return nil, fmt.Errorf("call ended: %s", reason(c.Reason))
			}
			if c.State == "connected" && c.SetupMS > 0 && c.SAS != "" {
				return &c, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, errWaitedOut
		}
		select {
		case <-g.ctx.Done():
			return nil, g.ctx.Err()
		case <-time.After(50 * time.Millisecond): // polling the daemon
		}
	}
}

func printCall(w io.Writer, c apitype.Call) {
	if c.Unverified {
		fmt.Fprintln(w, "  !! UNVERIFIED: the caller never confirmed the SAS, so there is nothing to compare.")
		fmt.Fprintln(w, "  !! Someone may be in the middle of this call; do not say anything private.")
	}
	if c.SAS != "" {
		fmt.Fprintf(w, "  SAS %s  (read it aloud: the other side must see the same)\n", c.SAS)
	}
	if c.Path.Kind != "" {
		fmt.Fprintf(w, "  path %s (%s/%s over %s), rtt %.1f ms\n", c.Path.Kind, c.Path.Local, c.Path.Remote, c.Path.Network, c.Path.RTTMS)
	}
	if c.SetupMS > 0 {
		fmt.Fprintf(w, "  first media after %.1f ms\n", c.SetupMS)
	}
	for _, s := range c.Streams {
		fmt.Fprintf(w, "  %-7s %-5s %-5s %8d pkts %10d bytes  lost %d  jitter %.1f ms\n", s.Direction, s.Kind, s.Codec, s.Packets, s.Bytes, s.Lost, s.JitterMS)
	}
	if c.ToneHz > 0 {
		fmt.Fprintf(w, "  hearing a %.0f Hz tone\n", c.ToneHz)
	}
	if c.Dropped > 0 {
		fmt.Fprintf(w, "  dropped %d bad packets\n", c.Dropped)
	}
	if c.RecordError != "" {
		fmt.Fprintf(w, "  !! recording failed: %s\n", reason(c.RecordError))
	}
	if c.Reason != "" {
		fmt.Fprintf(w, "  ended: %s\n", reason(c.Reason))
	}
}

type callsCmd struct {
	All  bool `help:"List every call the daemon remembers, not only the active ones and the last few ended."`
	JSON bool `help:"Print JSON: every call the daemon remembers, as before (--all is implied)."`
}

// recentEnded is how many ended calls parley calls shows without --all.
const recentEnded = 3

func (c *callsCmd) Run(g *globals) error {
	cs, err := g.client().Calls(g.ctx)
	if err != nil {
		return err
	}
	// Newest first: the active calls and the last few ended ones.
	shown := []apitype.Call{}
	ended, hidden := 0, 0
	for _, call := range cs {
		if !activeCall(call) {
			if ended++; ended > recentEnded && !c.All {
				hidden++
				continue
			}
		}
		shown = append(shown, call)
	}
	if cs == nil {
		cs = []apitype.Call{}
	}
	n := contactNames(g.ctx, g)
	return g.output(c.JSON, cs, func(w io.Writer) {
		if len(shown) == 0 {
			fmt.Fprintln(w, "No calls.")
			return
		}
		t := newTable(w, "CALL ID", "DIRECTION", "STATE", "STARTED", "WITH")
		for _, call := range shown {
			state := call.State
			if call.Unverified {
				state += " UNVERIFIED"
			}
			t.row(call.ID, call.Direction, state, when(call.Started), n.of(call.Peer))
		}
		t.flush()
		for _, call := range shown {
			if activeCall(call) || call.Reason != "" {
				fmt.Fprintf(w, "\nCall %s with %s:\n", call.ID, n.of(call.Peer))
				printCall(w, call)
			}
		}
		if hidden > 0 {
			fmt.Fprintf(w, "\n%d earlier call(s) not shown: parley calls --all\n", hidden)
		}
	})
}

type answerCmd struct {
	Call   string `arg:"" optional:"" help:"Call ID (default: the only ringing call)."`
	Audio  string `default:"tone" placeholder:"SRC" suggest:"tone=a 440 Hz test tone,tone:=tone:HZ: a tone of HZ (tone:700),rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP from ffmpeg,none=send no audio" help:"Audio to send (as for parley call)."`
	Video  string `placeholder:"SRC" suggest:"rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP from ffmpeg" help:"Video to send (as for parley call)."`
	Record string `placeholder:"DIR|rtp://…" suggest:"rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP to ffmpeg" help:"Where received media goes (as for parley call)."`
	JSON   bool   `help:"Print JSON."`
}

func (c *answerCmd) Run(g *globals) error {
	call, err := g.client().AnswerCall(g.ctx, apitype.CallAction{CallID: c.Call, Audio: localSpec(c.Audio), Video: localSpec(c.Video), Record: localSpec(c.Record)})
	if err != nil {
		return err
	}
	return g.output(c.JSON, call, func(w io.Writer) {
		fmt.Fprintf(w, "Answered call %s from %s.\n", call.ID, contactNames(g.ctx, g).of(call.Peer))
	})
}

type callActionCmd struct {
	Call string `arg:"" optional:"" help:"Call ID (default: the only call it applies to)."`
	JSON bool   `help:"Print JSON."`
}

func (c *callActionCmd) Run(g *globals, kctx *kong.Context) error {
	op := kctx.Selected().Name // decline or hangup
	if err := g.client().CallAction(g.ctx, op, apitype.CallAction{CallID: c.Call}); err != nil {
		return err
	}
	return g.output(c.JSON, map[string]bool{"ok": true}, func(w io.Writer) { fmt.Fprintln(w, "Done.") })
}

type setCmd struct {
	Key   string `arg:"" optional:"" help:"Setting: calls.auto_answer (off|contacts), calls.allow_non_contacts (false|true) or calls.auto_record (a directory or rtp://127.0.0.1:PORT for auto-answered calls). Without KEY, list the settings."`
	Value string `arg:"" optional:"" help:"New value."`
	JSON  bool   `help:"Print JSON."`
}

func (c *setCmd) Run(g *globals) error {
	if c.Key != "" {
		v := c.Value
		if c.Key == "calls.auto_record" {
			v = localSpec(v)
		}
		if err := g.client().SetSetting(g.ctx, c.Key, v); err != nil {
			return err
		}
	}
	m, err := g.client().Settings(g.ctx)
	if err != nil {
		return err
	}
	return g.output(c.JSON, m, func(w io.Writer) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(w, "%s = %s\n", k, m[k])
		}
	})
}
