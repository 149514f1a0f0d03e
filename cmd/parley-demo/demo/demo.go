// Package demo is the parley-demo binary's story: the whole of Parley in one
// process on loopback, for a newcomer. It runs an embedded bootstrap server
// and three devices (Alice with two linked devices, and Bob) in a temporary
// directory, has Bob ask Alice to be a contact, call her, verifies the media
// both ways, and shows what the bootstrap server saw.
//
// It embeds a whole node and a bootstrap server, so it lives in a binary of
// its own: the parley CLI stays a thin client of a running parleyd and links
// no network stack (`parley demo` only runs parley-demo).
package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/gologshim"

	pcrypto "github.com/parleyhq/parley/crypto"
	"github.com/parleyhq/parley/node"
	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test/testnet"
	"github.com/parleyhq/parley/test/wait"
)

// Options configure a demo run.
type Options struct {
	// Keep leaves the data directories in place and says how to use them.
	Keep bool
	// Dir is where the data directories go; empty means a new temporary
	// directory.
	Dir string
	// Verbose logs the nodes' debug output to Out.
	Verbose bool
}

// Tones the two sides send, so each can be told apart in the other's audio.
const (
	bobTone   = 440.0
	aliceTone = 660.0
)

// narrator prints the steps, each with the time since the start.
type narrator struct {
	w     io.Writer
	start time.Time
	step  string
}

func (n *narrator) say(format string, args ...any) {
	fmt.Fprintf(n.w, "%7.2fs  %s\n", time.Since(n.start).Seconds(), fmt.Sprintf(format, args...))
}

// begin names the step that a failure would be reported against.
func (n *narrator) begin(step string) { n.step = step }

// Run runs the demo. It returns an error naming the step that failed.
func Run(ctx context.Context, w io.Writer, o Options) (err error) {
	nr := &narrator{w: w, start: time.Now()}
	defer func() {
		if err != nil {
			err = fmt.Errorf("demo failed at step %q: %w", nr.step, err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	logw := io.Discard
	if o.Verbose {
		logw = w
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gologshim.SetDefaultHandler(slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})).Handler())

	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "parley-demo-"); err != nil {
			return err
		}
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	fmt.Fprintf(w, "Parley demo: a bootstrap server and three devices, all in this process on loopback.\n\n")

	// 1. The bootstrap server.
	nr.begin("start the bootstrap server")
	net, err := testnet.New(testnet.Options{
		Dir: dir, Logger: logger, Timeout: time.Minute,
		Node: func(o *node.Options) { o.RetryInterval = 200 * time.Millisecond },
	})
	if err != nil {
		return err
	}
	defer net.Close()
	b, err := net.StartBootstrap(testnet.TURNLoopback)
	if err != nil {
		return err
	}
	bs, boot := b.Server, b.Addrs
	nr.say("bootstrap server up at %s", boot[0])

	// 2. Identities: Alice on two devices, Bob on one.
	nr.begin("create the identities")
	kdf := pcrypto.TestKDFParams // demo keys are thrown away: no need for a slow KDF
	aliceLaptop := filepath.Join(dir, "alice-laptop")
	aliceID, err := node.InitAccount(aliceLaptop, node.AccountOptions{DeviceName: "alice-laptop", KDF: kdf})
	if err != nil {
		return err
	}
	nr.say("Alice made an account on her laptop: %s", aliceID.AccountID)
	alicePhone := filepath.Join(dir, "alice-phone")
	bobDir := filepath.Join(dir, "bob")
	bobID, err := node.InitAccount(bobDir, node.AccountOptions{DeviceName: "bob", KDF: kdf})
	if err != nil {
		return err
	}
	nr.say("Bob made an account: %s", bobID.AccountID)

	// 3. Run the devices; link Alice's phone to her account.
	nr.begin("start the devices")
	var nodes []*node.Node
	var running []*testnet.Node
	start := func(d string) (*node.Node, error) {
		x, err := net.StartNode(d, nil)
		if err != nil {
			return nil, err
		}
		nodes, running = append(nodes, x.Node), append(running, x)
		return x.Node, nil
	}
	laptop, err := start(aliceLaptop)
	if err != nil {
		return err
	}
	bob, err := start(bobDir)
	if err != nil {
		return err
	}
	if err := testnet.WaitPublished(ctx, running...); err != nil {
		return err
	}
	nr.say("Alice's laptop and Bob's device published their presence to the DHT through the bootstrap")

	nr.begin("link Alice's phone")
	phoneSAS := make(chan string, 1)
	req, err := node.NewLinkRequest(alicePhone, node.LinkOptions{
		AccountOptions: node.AccountOptions{DeviceName: "alice-phone", KDF: kdf},
		Bootstraps:     boot, ListenAddrs: testnet.Loopback, Logger: logger.With("who", "alice-phone"),
		// The demo confirms on the phone's "screen" by itself; parleyd
		// init --link asks (or takes --yes).
		AutoConfirm: true,
		OnEvent: func(e node.LinkEvent) {
			if e.Type == node.LinkEventSAS {
				select {
				case phoneSAS <- e.SAS:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer req.Close()
	nr.say("Alice's phone shows a one-time link code (%d characters; also as a QR code in the real CLI)", len(req.Code()))
	sess, err := laptop.ApproveLink(ctx, apitype.LinkApprove{Code: req.Code()})
	if err != nil {
		return err
	}
	var seen string
	select {
	case seen = <-phoneSAS:
	case <-ctx.Done():
		return ctx.Err()
	}
	if seen != sess.SAS {
		return fmt.Errorf("link SAS differs: laptop %q, phone %q", sess.SAS, seen)
	}
	nr.say("the laptop approves it; both screens show the link SAS %s, Alice confirms", sess.SAS)
	if _, err := laptop.ConfirmLink(ctx, apitype.LinkConfirm{Session: sess.Session, SAS: sess.SAS}); err != nil {
		return err
	}
	if _, err := req.Wait(ctx); err != nil {
		return err
	}
	req.Close()
	phone, err := start(alicePhone)
	if err != nil {
		return err
	}
	if err := testnet.WaitPublished(ctx, running[len(running)-1]); err != nil {
		return err
	}
	nr.say("the phone got its own certificate and the account over the encrypted channel; it is online")
	if ds, err := laptop.Devices(); err == nil {
		for _, d := range ds {
			nr.say("  %-12s %s", d.Name, d.Role)
		}
	}
	if phone.Keys().IsAdmin() {
		return fmt.Errorf("the phone holds the account key; a linked device should be a member")
	}
	nr.say("the phone is a member: it has no account key, so a stolen phone, once revoked, cannot undo its revocation")

	// 4. Contacts.
	nr.begin("contact request")
	if _, err := bob.AddContact(laptop.Keys().AccountCert.ID, "Alice", "Hi Alice, it's Bob"); err != nil {
		return err
	}
	nr.say("Bob sent Alice a contact request (signed by his device, delivered peer to peer)")
	// Both of Alice's devices show the request (Bob's device delivers it
	// to every device of hers that is online).
	if err := waitFor(ctx, func() error { return wantContact(laptop, bobID.AccountID, "request-received") }); err != nil {
		return err
	}
	if err := waitFor(ctx, func() error { return wantContact(phone, bobID.AccountID, "request-received") }); err != nil {
		return err
	}
	if _, err := laptop.AcceptContact(bob.Keys().AccountCert.ID); err != nil {
		return err
	}
	if err := waitFor(ctx, func() error { return wantContact(bob, aliceID.AccountID, "accepted") }); err != nil {
		return err
	}
	if err := waitFor(ctx, func() error { return wantContact(phone, bobID.AccountID, "accepted") }); err != nil {
		return err
	}
	nr.say("Alice accepted on her laptop; her phone learned it by device sync; Bob and Alice are contacts")

	// 5. The call.
	nr.begin("call")
	call, err := bob.StartCall(ctx, apitype.CallRequest{AccountID: aliceID.AccountID, Audio: fmt.Sprintf("tone:%.0f", bobTone)})
	if err != nil {
		return err
	}
	nr.say("Bob calls Alice…")
	for _, n := range []*node.Node{laptop, phone} {
		if err := waitFor(ctx, func() error { return wantCall(n, call.ID, "ringing") }); err != nil {
			return err
		}
	}
	nr.say("ringing on alice-laptop and on alice-phone")
	if _, err := phone.AnswerCall(apitype.CallAction{CallID: call.ID, Audio: fmt.Sprintf("tone:%.0f", aliceTone)}); err != nil {
		return err
	}
	if err := waitFor(ctx, func() error { return wantCall(laptop, call.ID, "ended") }); err != nil {
		return err
	}
	nr.say("Alice answered on her phone; the laptop stopped ringing (%s)", callOf(laptop, call.ID).Reason)

	nr.begin("media")
	var bc, ac apitype.Call
	if err := waitFor(ctx, func() error {
		bc, ac = callOf(bob, call.ID), callOf(phone, call.ID)
		if bc.ToneHz != aliceTone || ac.ToneHz != bobTone {
			return fmt.Errorf("bob hears %v Hz (want %v), alice hears %v Hz (want %v)", bc.ToneHz, aliceTone, ac.ToneHz, bobTone)
		}
		return nil
	}); err != nil {
		return err
	}
	nr.say("connected %s (%s/%s over %s); first media after %.1f ms", bc.Path.Kind, bc.Path.Local, bc.Path.Remote, bc.Path.Network, bc.SetupMS)
	nr.say("Bob hears %.0f Hz from Alice, Alice hears %.0f Hz from Bob: decoded from SRTP at each end", bc.ToneHz, ac.ToneHz)
	if ac.Unverified || bc.Unverified {
		return fmt.Errorf("the call is UNVERIFIED (a SAS confirmation never came): someone may be in the middle")
	}
	if bc.SAS == "" || bc.SAS != ac.SAS {
		return fmt.Errorf("SAS differs: Bob %q, Alice %q", bc.SAS, ac.SAS)
	}
	nr.say("both screens show the same SAS: Bob %s, Alice %s (they read it aloud to rule out a man in the middle;", bc.SAS, ac.SAS)
	nr.say("had the caller's SAS confirmation not come, Bob's screen would say UNVERIFIED instead)")

	nr.begin("hang up")
	if err := bob.HangUp(apitype.CallAction{CallID: call.ID}); err != nil {
		return err
	}
	if err := waitFor(ctx, func() error { return wantCall(phone, call.ID, "ended") }); err != nil {
		return err
	}
	nr.say("Bob hung up; the call ended on both sides")

	// 6. What the server saw.
	nr.begin("inspect the bootstrap")
	secrets, err := collectSecrets(nodes)
	if err != nil {
		return err
	}
	recs, err := bs.StoredRecords()
	if err != nil {
		return err
	}
	for _, r := range recs {
		for _, s := range secrets {
			if bytes.Contains(r.Value, s) {
				return fmt.Errorf("a secret key is in a record the bootstrap stores (%s)", r.Namespace)
			}
		}
	}
	st := bs.Stats()
	fmt.Fprintf(w, "\nWhat the bootstrap server saw:\n")
	fmt.Fprintf(w, "  DHT records: %d account records (certificates, signed by each account) and %d presence records (each device's addresses)\n", st.AccountRecords, st.PresenceRecords)
	fmt.Fprintf(w, "  none of them holds a private key: checked against all %d private keys of the demo\n", len(secrets))
	fmt.Fprintf(w, "  circuit relay: %d reservations, %d relayed connections\n", st.RelayReservations, st.RelayCircuits)
	fmt.Fprintf(w, "  TURN: %d credential requests, %d allocations made while gathering ICE candidates\n", st.CredentialsIssued, st.TURNAllocations)
	if bc.Path.Kind == "direct" {
		fmt.Fprintf(w, "  the call went peer to peer, so no media passed through it at all; when a NAT forces a relay,\n  TURN carries only SRTP it cannot decrypt (the keys were agreed end to end)\n")
	}
	fmt.Fprintf(w, "\nDemo finished in %.1f s.\n", time.Since(nr.start).Seconds())
	if o.Keep {
		fmt.Fprintf(w, "\nThe data directories are in %s. To poke at them:\n", dir)
		fmt.Fprintf(w, "  go run ./cmd/parley-bootstrap --data-dir %s --listen /ip4/127.0.0.1/tcp/4001 --turn-listen 127.0.0.1:3478 --turn-allow-private-peers\n", b.Dir)
		fmt.Fprintf(w, "  go run ./cmd/parleyd run --data %s --ice-loopback --bootstrap \"$(head -1 %s)\"\n", bobDir, filepath.Join(b.Dir, "addrs.txt"))
		fmt.Fprintf(w, "  go run ./cmd/parley --data %s contacts\n", bobDir)
	} else {
		fmt.Fprintf(w, "(The temporary data was removed; run with --keep to keep it.)\n")
	}
	return nil
}

// collectSecrets returns the private key seeds of the demo's devices.
func collectSecrets(nodes []*node.Node) ([][]byte, error) {
	var out [][]byte
	for _, n := range nodes {
		id := n.Keys()
		if ak := id.AccountKey(); ak != nil { // members hold none
			out = append(out, ak.Seed())
		}
		out = append(out, id.DeviceKey.Seed())
	}
	return out, nil
}

func wantContact(n *node.Node, account, state string) error {
	cs, err := n.Contacts()
	if err != nil {
		return err
	}
	return wait.Contact(cs, account, func(c apitype.Contact) bool { return c.State == state && !c.Pending })
}

func callOf(n *node.Node, id string) apitype.Call {
	for _, c := range n.Calls() {
		if c.ID == id {
			return c
		}
	}
	return apitype.Call{}
}

func wantCall(n *node.Node, id, state string) error {
	if c := callOf(n, id); c.State != state {
		return fmt.Errorf("call is %q, not %s (%s)", c.State, state, strings.TrimSpace(c.Reason))
	}
	return nil
}

// waitFor polls cond until it holds, ctx ends or a minute passed.
func waitFor(ctx context.Context, cond func() error) error { return wait.For(ctx, time.Minute, cond) }
