package calltransport

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

var benchSizes = []int{160, 1200}

// BenchmarkMediaPath measures packets per second through the whole media
// path on loopback: WriteRTP (marshal, SRTP seal) → UDP through pion's ICE
// connection → read loop (demux, SRTP open, replay check, stats) →
// ReadRTP. The writer keeps at most window packets in flight so that
// neither the socket nor the queue overflows; a packet the kernel loses
// anyway is not waited for (and is reported as "lost"). The rate is packets
// received over the time from the first write to the last receipt.
func BenchmarkMediaPath(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			p := newLegPair(b, func(c *Config) { c.ReportInterval = -1 })
			p.start()
			p.waitConnected(10 * time.Second)
			ma, mb := p.startMedia()
			// 32 datagrams of 1200 B stay well inside the default socket
			// receive buffer (each costs about twice its size there).
			const window = 32
			var got, lastAt atomic.Int64
			progress := make(chan struct{}, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if _, err := mb.ReadRTP(); err != nil {
						return
					}
					got.Add(1)
					lastAt.Store(time.Now().UnixNano())
					select {
					case progress <- struct{}{}:
					default:
					}
				}
			}()
			// waitProgress waits for the reader to take a packet; false
			// after a second without one (the rest were lost).
			timer := time.NewTimer(time.Hour)
			waitProgress := func() bool {
				timer.Reset(time.Second)
				select {
				case <-progress:
					return true
				case <-timer.C:
					return false
				}
			}
			pkt := testPacket(0x1111, 0, make([]byte, size))
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				for int64(i)-got.Load() >= window && waitProgress() {
				}
				pkt.SequenceNumber = uint16(i)
				pkt.Timestamp = uint32(i) * 160
				if err := ma.WriteRTP(pkt); err != nil {
					b.Fatal(err)
				}
			}
			for got.Load() < int64(b.N) && waitProgress() {
			}
			b.StopTimer()
			elapsed := time.Unix(0, lastAt.Load()).Sub(start)
			b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "pkts/s")
			b.ReportMetric(float64(int64(b.N)-got.Load()), "lost")
			_ = p.b.Close()
			<-done
		})
	}
}

// BenchmarkRawSRTP is the crypto floor for BenchmarkMediaPath: pion/srtp
// seal and open (with replay protection, as the media path uses) of the
// same packets, no network.
func BenchmarkRawSRTP(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ka, _ := testKeys(b, 0)
			enc, err := srtp.CreateContext(ka.LocalKey, ka.LocalSalt, DefaultProfile)
			if err != nil {
				b.Fatal(err)
			}
			dec, err := srtp.CreateContext(ka.LocalKey, ka.LocalSalt, DefaultProfile, srtp.SRTPReplayProtection(srtpReplayWindow))
			if err != nil {
				b.Fatal(err)
			}
			pkt := testPacket(0x1111, 0, make([]byte, size))
			var hdr rtp.Header
			var sealed, opened []byte
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				pkt.SequenceNumber = uint16(i)
				raw, err := pkt.Marshal()
				if err != nil {
					b.Fatal(err)
				}
				if sealed, err = enc.EncryptRTP(sealed[:0], raw, &hdr); err != nil {
					b.Fatal(err)
				}
				if opened, err = dec.DecryptRTP(opened[:0], sealed, &hdr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkts/s")
		})
	}
}
