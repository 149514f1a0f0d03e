package natlab

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Capture records the IPv4 packets crossing every interface of one
// namespace, from a packet socket opened inside it (no tcpdump needed).
type Capture struct {
	fd   int
	keep func(Packet) bool
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex // guards the following fields
	pkts    []Packet
	errs    int
	dropped uint32
}

// StartCapture starts capturing in namespace ns every IPv4 packet for
// which keep returns true (all when keep is nil). Packets looped over lo
// are recorded once.
func (l *Lab) StartCapture(ns string, keep func(Packet) bool) (*Capture, error) {
	c := &Capture{keep: keep, stop: make(chan struct{}), done: make(chan struct{}), fd: -1}
	err := l.Do(ns, func() error {
		// ETH_P_ALL, not ETH_P_IP: the kernel hands outgoing packets only
		// to packet sockets of all protocols.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("natlab: packet socket in %s: %w", ns, err)
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(c.fd)
		return nil, fmt.Errorf("natlab: capture timeout: %w", err)
	}
	go c.loop()
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *Capture) loop() {
	defer close(c.done)
	buf := make([]byte, 256<<10) // GSO super-packets can exceed the MTU
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.errs++
			c.mu.Unlock()
			continue
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Protocol != htons(unix.ETH_P_IP) {
			continue
		}
		if ll.Ifindex == 1 && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // lo: the same packet comes back as incoming
		}
		data := make([]byte, n)
		copy(data, buf[:n])
		p, err := ParsePacket(data)
		c.mu.Lock()
		if err != nil {
			c.errs++
		} else if c.keep == nil || c.keep(p) {
			c.pkts = append(c.pkts, p)
		}
		c.mu.Unlock()
	}
}

// Stop ends the capture and returns the packets in arrival order.
func (c *Capture) Stop() []Packet {
	select {
	case <-c.stop:
	default:
		close(c.stop)
		<-c.done
		if st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			c.mu.Lock()
			c.dropped += st.Drops
			c.mu.Unlock()
		}
		unix.Close(c.fd)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pkts
}

// snapshot returns the packets captured so far.
func (c *Capture) snapshot() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pkts)
}

// Dropped is how many packets the kernel dropped because the capture fell
// behind, and how many could not be decoded (valid after Stop).
func (c *Capture) Dropped() (kernel uint32, undecodable int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped, c.errs
}
