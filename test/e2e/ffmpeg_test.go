package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/node/localapi/apitype"
	"github.com/parleyhq/parley/test"
)

// ffmpegSeconds is how much audio ffmpeg sends into the call.
const ffmpegSeconds = 4

// TestFFmpegInterop: a real media tool on both ends of a call. ffmpeg encodes
// a 440 Hz sine to Opus and sends it as RTP (dynamic payload type 97) into the
// local port alice's call reads from; bob answers with --record and writes
// what arrives to an Ogg file; ffprobe must read that file and find it as
// long as what ffmpeg sent (within 10 %).
func TestFFmpegInterop(t *testing.T) {
	ffmpeg, ffprobe := lookTool(t, "ffmpeg"), lookTool(t, "ffprobe")
	bins := test.BuildBinaries(t)
	_, boot := startBootstrap(t, bins)
	alice := newDaemon(t, bins, "alice", boot)
	bob := newDaemon(t, bins, "bob", boot)
	alice.start()
	bob.start()
	befriend(t, alice, bob)

	// Auto-answer would answer with default options, which do not record;
	// bob answers by hand so that he can record.
	port := freeUDPPort(t)
	rtpURL := fmt.Sprintf("rtp://127.0.0.1:%d", port)
	var c apitype.Call
	if err := alice.cliJSON(&c, "call", bob.id, "--audio", rtpURL+"?codec=opus"); err != nil {
		t.Fatal(err)
	}
	waitCallState(t, bob, c.ID, "ringing")
	recDir := filepath.Join(t.TempDir(), "bob-recordings")
	var answered apitype.Call
	if err := bob.cliJSON(&answered, "answer", c.ID, "--record", recDir); err != nil {
		t.Fatal(err)
	}
	waitCallState(t, alice, c.ID, "connected")
	waitCallState(t, bob, c.ID, "connected")

	// ffmpeg sends in real time (-re) and exits when its input ends.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	started := time.Now()
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", ffmpegSeconds),
		"-c:a", "libopus", "-b:a", "32k", "-f", "rtp", rtpURL).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	t.Logf("ffmpeg sent %d s of Opus in %.1f s", ffmpegSeconds, time.Since(started).Seconds())

	// Wait for the stream to settle: bob's receive count has stopped
	// growing for a while (no fixed sleep).
	recv, sent := settleReceive(t, alice, bob, c.ID)
	t.Logf("alice sent %d Opus packets; bob received %d (%d bytes, lost %d), call dropped %d",
		sent.Packets, recv.Packets, recv.Bytes, recv.Lost, recv.dropped)
	// 20 ms Opus frames: ffmpegSeconds*50 packets, give or take the last.
	if want := uint64(ffmpegSeconds * 50 * 9 / 10); sent.Packets < want {
		t.Errorf("alice sent %d packets from ffmpeg, want at least %d", sent.Packets, want)
	}
	if recv.Packets == 0 || recv.Packets*100 < sent.Packets*95 {
		t.Errorf("bob received %d of the %d packets alice sent", recv.Packets, sent.Packets)
	}
	if recv.dropped != 0 {
		t.Errorf("bob's call dropped %d packets", recv.dropped)
	}

	// Bob hangs up: his recording is closed before the command returns.
	if r := bob.cli("hangup", c.ID); r.Code != 0 {
		t.Fatalf("hangup: %s", r.Stderr)
	}
	waitCallState(t, alice, c.ID, "ended")

	files, err := filepath.Glob(filepath.Join(recDir, "*.ogg"))
	if err != nil || len(files) != 1 {
		t.Fatalf("bob's recordings in the record directory: %v, %v (want one .ogg)", files, err)
	}
	out, err = exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_entries", "format=duration",
		"-of", "csv=p=0", files[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(files[0]), err, out)
	}
	dur, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", out, err)
	}
	t.Logf("ffprobe: %s lasts %.3f s", filepath.Base(files[0]), dur)
	if math.Abs(dur-ffmpegSeconds) > 0.1*ffmpegSeconds {
		t.Errorf("recorded duration %.3f s, want %d s ± 10 %%", dur, ffmpegSeconds)
	}
}

// lookTool returns the path of a media tool, skipping the test without it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not on PATH (install the ffmpeg package; .ci/run does): %v", name, err)
	}
	return p
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// waitCallState polls the daemon until call id is in state want; it fails
// early when the call ends while another state is awaited.
func waitCallState(t *testing.T, d *daemon, id, want string) {
	t.Helper()
	test.WaitFor(t, 30*time.Second, func() error {
		c, err := d.callOn(id)
		if err != nil {
			return err
		}
		if c.State == "ended" && want != "ended" {
			t.Fatalf("%s: call %s ended (%s) while waiting for %s", filepath.Base(d.dir), id, c.Reason, want)
		}
		if c.State != want {
			return fmt.Errorf("%s: call %s is %s, want %s", filepath.Base(d.dir), id, c.State, want)
		}
		return nil
	})
}

// recvStats is bob's receive stream plus the call's dropped count.
type recvStats struct {
	apitype.Stream
	dropped uint64
}

// settleReceive polls until bob's audio receive count is non-zero and has
// not changed for a second, and returns it with alice's send stream.
func settleReceive(t *testing.T, alice, bob *daemon, id string) (recvStats, apitype.Stream) {
	t.Helper()
	const quiet = time.Second
	var last recvStats
	changed := time.Now()
	test.WaitFor(t, 30*time.Second, func() error {
		bc, err := bob.callOn(id)
		if err != nil {
			return err
		}
		s, ok := findStream(bc, "receive", "audio")
		if !ok || s.Codec != "opus" {
			return fmt.Errorf("bob has no Opus receive stream: %+v", bc.Streams)
		}
		cur := recvStats{Stream: s, dropped: bc.Dropped}
		if cur.Packets != last.Packets {
			last, changed = cur, time.Now()
		}
		last.dropped = cur.dropped
		if last.Packets == 0 || time.Since(changed) < quiet {
			return fmt.Errorf("bob's receive count %d still moving", last.Packets)
		}
		return nil
	})
	ac, err := alice.callOn(id)
	if err != nil {
		t.Fatal(err)
	}
	sent, ok := findStream(ac, "send", "audio")
	if !ok || sent.Codec != "opus" {
		t.Fatalf("alice has no Opus send stream: %+v", ac.Streams)
	}
	return last, sent
}

// findStream returns the call's stream of a direction and kind.
func findStream(c apitype.Call, direction, kind string) (apitype.Stream, bool) {
	for _, s := range c.Streams {
		if s.Direction == direction && s.Kind == kind {
			return s, true
		}
	}
	return apitype.Stream{}, false
}
