package cli

import (
	"fmt"
	"io"

	"github.com/parleyhq/parley/node/localapi/apitype"
)

// conferenceCmd groups the group-call commands.
type conferenceCmd struct {
	Start  confStartCmd  `cmd:"" help:"Start a conference (a full mesh: every participant sends to every other over its own end-to-end encrypted call; nobody mixes)."`
	Invite confInviteCmd `cmd:"" help:"Invite a contact to a conference (every online device of it is told)."`
	Join   confJoinCmd   `cmd:"" help:"Join a conference you were invited to: this device calls every participant."`
	Leave  confLeaveCmd  `cmd:"" help:"Leave a conference; it goes on for the others."`
	List   confListCmd   `cmd:"" help:"List conferences with per-participant path, loss, jitter and RTT."`
}

// confMedia are the media flags of start and join.
type confMedia struct {
	Audio  string `default:"tone" placeholder:"SRC" suggest:"tone=a 440 Hz test tone,tone:=tone:HZ: a tone of HZ (tone:700),rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP from ffmpeg,none=send no audio" help:"Audio to send to every participant (as for parley call)."`
	Video  string `placeholder:"SRC" suggest:"rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP from ffmpeg" help:"Video to send to every participant (as for parley call)."`
	Record string `placeholder:"DIR|rtp://…" suggest:"rtp://127.0.0.1:=rtp://127.0.0.1:PORT: RTP to ffmpeg" help:"Record each participant separately: DIR/<device-id>/ files (or rtp://127.0.0.1:PORT)."`
	JSON   bool   `help:"Print JSON."`
}

type confStartCmd struct {
	Max int `default:"8" min:"2" max:"32" help:"Most participants. Each sends its media to the N-1 others, so upload grows with N."`
	confMedia
}

func (c *confStartCmd) Run(g *globals) error {
	cf, err := g.client().ConferenceOp(g.ctx, "start", apitype.ConferenceRequest{Max: c.Max, Audio: localSpec(c.Audio), Video: localSpec(c.Video), Record: localSpec(c.Record)})
	if err != nil {
		return err
	}
	return g.output(c.JSON, cf, func(w io.Writer) {
		fmt.Fprintf(w, "Conference %s started (max %d).\nInvite contacts with: parley conference invite %s ACCOUNT-ID\n", cf.ID, cf.Max, cf.ID)
	})
}

type confInviteCmd struct {
	Conference string `arg:"" help:"Conference ID."`
	Account    string `arg:"" help:"Account ID or name of the contact to invite."`
	JSON       bool   `help:"Print JSON."`
}

func (c *confInviteCmd) Run(g *globals) error {
	acct, err := accountArg(g.ctx, g, c.Account)
	if err != nil {
		return err
	}
	if _, err := g.client().ConferenceOp(g.ctx, "invite", apitype.ConferenceRequest{ConferenceID: c.Conference, AccountID: acct}); err != nil {
		return err
	}
	return g.output(c.JSON, map[string]bool{"ok": true}, func(w io.Writer) { fmt.Fprintln(w, "Invited.") })
}

type confJoinCmd struct {
	Conference string `arg:"" help:"Conference ID (from the invitation: parley conference list, or parley events)."`
	confMedia
}

func (c *confJoinCmd) Run(g *globals) error {
	cf, err := g.client().ConferenceOp(g.ctx, "join", apitype.ConferenceRequest{ConferenceID: c.Conference, Audio: localSpec(c.Audio), Video: localSpec(c.Video), Record: localSpec(c.Record)})
	if err != nil {
		return err
	}
	return g.output(c.JSON, cf, func(w io.Writer) { printConference(w, *cf, contactNames(g.ctx, g)) })
}

type confLeaveCmd struct {
	Conference string `arg:"" help:"Conference ID."`
	JSON       bool   `help:"Print JSON."`
}

func (c *confLeaveCmd) Run(g *globals) error {
	if _, err := g.client().ConferenceOp(g.ctx, "leave", apitype.ConferenceRequest{ConferenceID: c.Conference}); err != nil {
		return err
	}
	return g.output(c.JSON, map[string]bool{"ok": true}, func(w io.Writer) { fmt.Fprintln(w, "Left.") })
}

type confListCmd struct {
	JSON bool `help:"Print JSON."`
}

func (c *confListCmd) Run(g *globals) error {
	cs, err := g.client().Conferences(g.ctx)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []apitype.Conference{}
	}
	return g.output(c.JSON, cs, func(w io.Writer) {
		if len(cs) == 0 {
			fmt.Fprintln(w, "No conferences.")
		}
		n := contactNames(g.ctx, g)
		for _, cf := range cs {
			printConference(w, cf, n)
		}
	})
}

func printConference(w io.Writer, cf apitype.Conference, n names) {
	state := "joined"
	if !cf.Joined {
		state = "invited by " + n.of(cf.Inviter) + " (parley conference join " + cf.ID + ")"
	}
	fmt.Fprintf(w, "Conference %s: %d participant(s), max %d, %s\n", cf.ID, len(cf.Participants), cf.Max, state)
	if len(cf.Participants) == 0 {
		return
	}
	t := newTable(w, "  NAME", "DEVICE ID", "STATE", "PATH")
	for _, p := range cf.Participants {
		name := safe(p.Name)
		if name == "" {
			name = n.of(p.Account)
		}
		switch {
		case p.Self:
			t.row("  (this device)", p.Device, "", "")
		case p.Call == nil:
			t.row("  "+name, p.Device, "not connected", "")
		default:
			t.row("  "+name, p.Device, p.Call.State, p.Call.Path.Kind)
		}
	}
	t.flush()
	for _, p := range cf.Participants {
		if p.Call != nil {
			name := safe(p.Name)
			if name == "" {
				name = n.of(p.Account)
			}
			fmt.Fprintf(w, "  with %s:\n", name)
			printCall(w, *p.Call)
		}
	}
}
