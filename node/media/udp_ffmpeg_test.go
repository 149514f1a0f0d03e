package media

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestListenRTPFFmpegRestart is the case that made the SRTP layer reuse
// nonces: ffmpeg restarted with a fixed SSRC (and a fixed source port)
// starts again at lower sequence numbers. The source must pass on one
// dense run of numbers across the restart. Skipped without ffmpeg.
func TestListenRTPFFmpegRestart(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	src, err := ListenUDP("127.0.0.1:0", Opus, UDPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// A free source port for ffmpeg, the same for both runs.
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	localPort := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := make(chan *rtp.Packet, 1000)
	go func() {
		defer close(got)
		for {
			p, err := src.ReadRTP(ctx)
			if err != nil {
				return
			}
			got <- p
		}
	}()
	run := func(firstSeq int) {
		t.Helper()
		url := fmt.Sprintf("rtp://%s?localport=%d", src.Addr(), localPort)
		out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=0.5",
			"-c:a", "libopus", "-b:a", "32k", "-ssrc", "4660", "-seq", fmt.Sprint(firstSeq), "-f", "rtp", url).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	run(30000)
	run(100) // restarted: same SSRC, same port, lower numbers
	time.Sleep(200 * time.Millisecond)
	src.Close()
	var prev *rtp.Packet
	n := 0
	for p := range got {
		if prev != nil && p.SequenceNumber != prev.SequenceNumber+1 {
			t.Errorf("packet %d: sequence number %d after %d", n, p.SequenceNumber, prev.SequenceNumber)
		}
		prev = p
		n++
	}
	st := src.Stats()
	t.Logf("%d packets passed on, stats %+v", n, st)
	if n < 40 || st.Late != 1 || st.Foreign != 0 {
		t.Errorf("passed on %d packets, stats %+v; want about 50, one late (the restart's first)", n, st)
	}
}
