package natlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// The netfilter queue protocol (linux/netfilter/nfnetlink_queue.h), spoken
// over a NETLINK_NETFILTER socket. No nfqueue library is available through
// the module proxy, so this is the small part the delay line needs: bind a
// queue in meta-data mode (the kernel keeps the packet, we get its ID) and
// send verdicts.
const (
	nfnlSubsysQueue = 3

	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaPacketHdr  = 1
	nfqaVerdictHdr = 2

	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueMax = 3

	nfqnlCfgCmdBind = 1
	nfqnlCopyMeta   = 1

	nfAccept = 1

	nlmsgHdrLen  = 16
	nfgenHdrLen  = 4
	nlattrHdrLen = 4
)

// queueMaxLen is how many packets the kernel holds per queue for us; at
// 25 ms and a few thousand packets per second this leaves ample room.
const queueMaxLen = 16384

// nlMessage is one decoded netlink message.
type nlMessage struct {
	Type    uint16
	Flags   uint16
	Seq     uint32
	Payload []byte // after the 16-byte header
}

// parseNetlink splits a datagram read from a netlink socket into messages.
func parseNetlink(b []byte) ([]nlMessage, error) {
	var msgs []nlMessage
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return msgs, fmt.Errorf("%w: netlink: %d trailing bytes", ErrMalformed, len(b))
		}
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		if n < nlmsgHdrLen || n > len(b) {
			return msgs, fmt.Errorf("%w: netlink: message length %d of %d", ErrMalformed, n, len(b))
		}
		msgs = append(msgs, nlMessage{
			Type:    binary.NativeEndian.Uint16(b[4:6]),
			Flags:   binary.NativeEndian.Uint16(b[6:8]),
			Seq:     binary.NativeEndian.Uint32(b[8:12]),
			Payload: b[nlmsgHdrLen:n],
		})
		b = b[min(align4(n), len(b)):]
	}
	return msgs, nil
}

// parseAttrs walks netlink attributes and returns the payload of each type
// (the last one wins; nested flags are masked off).
func parseAttrs(b []byte) (map[uint16][]byte, error) {
	attrs := map[uint16][]byte{}
	for len(b) > 0 {
		if len(b) < nlattrHdrLen {
			return attrs, fmt.Errorf("%w: netlink attribute: %d trailing bytes", ErrMalformed, len(b))
		}
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < nlattrHdrLen || n > len(b) {
			return attrs, fmt.Errorf("%w: netlink attribute length %d of %d", ErrMalformed, n, len(b))
		}
		attrs[binary.NativeEndian.Uint16(b[2:4])&0x3fff] = b[nlattrHdrLen:n]
		b = b[min(align4(n), len(b)):]
	}
	return attrs, nil
}

// queuedPacket is what the delay line learns about one queued packet.
type queuedPacket struct {
	Queue uint16
	ID    uint32
}

// parseQueuedPacket decodes an NFQNL_MSG_PACKET payload (nfgenmsg and
// attributes): the queue number and the packet ID.
func parseQueuedPacket(payload []byte) (queuedPacket, error) {
	if len(payload) < nfgenHdrLen {
		return queuedPacket{}, fmt.Errorf("%w: nfqueue packet: short nfgenmsg", ErrMalformed)
	}
	attrs, err := parseAttrs(payload[nfgenHdrLen:])
	if err != nil {
		return queuedPacket{}, err
	}
	hdr := attrs[nfqaPacketHdr]
	if len(hdr) < 7 {
		return queuedPacket{}, fmt.Errorf("%w: nfqueue packet: no packet header", ErrMalformed)
	}
	return queuedPacket{Queue: binary.BigEndian.Uint16(payload[2:4]), ID: binary.BigEndian.Uint32(hdr[0:4])}, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// nlattr encodes one netlink attribute, padded to 4 bytes.
func nlattr(typ uint16, data []byte) []byte {
	b := make([]byte, align4(nlattrHdrLen+len(data)))
	binary.NativeEndian.PutUint16(b[0:2], uint16(nlattrHdrLen+len(data)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[nlattrHdrLen:], data)
	return b
}

// nfqMessage encodes a netfilter-queue message for queue with attributes.
func nfqMessage(msgType uint16, flags uint16, seq uint32, queue uint16, attrs ...[]byte) []byte {
	n := nlmsgHdrLen + nfgenHdrLen
	for _, a := range attrs {
		n += len(a)
	}
	b := make([]byte, nlmsgHdrLen+nfgenHdrLen, n)
	binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	binary.NativeEndian.PutUint16(b[4:6], nfnlSubsysQueue<<8|msgType)
	binary.NativeEndian.PutUint16(b[6:8], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	b[16] = unix.AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:20], queue)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// verdictMessage accepts packet id on queue.
func verdictMessage(queue uint16, id uint32) []byte {
	var v [8]byte
	binary.BigEndian.PutUint32(v[0:4], nfAccept)
	binary.BigEndian.PutUint32(v[4:8], id)
	return nfqMessage(nfqnlMsgVerdict, 0, 0, queue, nlattr(nfqaVerdictHdr, v[:]))
}

// nfqSocket is a NETLINK_NETFILTER socket bound to one or more queues.
type nfqSocket struct {
	fd  int
	seq uint32
}

// openNFQueue opens the socket in the calling thread's network namespace.
// Reads time out every readTimeout so the reader can notice cancellation.
func openNFQueue(readTimeout time.Duration) (*nfqSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("natlab: nfqueue socket: %w", err)
	}
	q := &nfqSocket{fd: fd}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		q.Close()
		return nil, fmt.Errorf("natlab: nfqueue bind: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	tv := unix.NsecToTimeval(readTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		q.Close()
		return nil, fmt.Errorf("natlab: nfqueue timeout: %w", err)
	}
	return q, nil
}

// Close closes the socket; the kernel unbinds its queues.
func (q *nfqSocket) Close() error { return unix.Close(q.fd) }

// Bind attaches the socket to queue num in meta-data copy mode (packets
// stay in the kernel; only their IDs come up).
func (q *nfqSocket) Bind(num uint16) error {
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, 0}
	binary.BigEndian.PutUint16(cmd[2:4], unix.AF_INET)
	if err := q.request(num, nlattr(nfqaCfgCmd, cmd)); err != nil {
		return fmt.Errorf("natlab: bind queue %d: %w", num, err)
	}
	params := []byte{0, 0, 0, 0, nfqnlCopyMeta}
	var maxLen [4]byte
	binary.BigEndian.PutUint32(maxLen[:], queueMaxLen)
	if err := q.request(num, nlattr(nfqaCfgParams, params), nlattr(nfqaCfgQueueMax, maxLen[:])); err != nil {
		return fmt.Errorf("natlab: configure queue %d: %w", num, err)
	}
	return nil
}

// request sends a config message with NLM_F_ACK and waits for the kernel's
// answer.
func (q *nfqSocket) request(queue uint16, attrs ...[]byte) error {
	q.seq++
	seq := q.seq
	if err := unix.Send(q.fd, nfqMessage(nfqnlMsgConfig, unix.NLM_F_ACK, seq, queue, attrs...), 0); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(q.fd, buf)
		if err != nil {
			return err
		}
		msgs, err := parseNetlink(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Type != unix.NLMSG_ERROR || m.Seq != seq {
				continue
			}
			if len(m.Payload) < 4 {
				return fmt.Errorf("%w: short netlink ack", ErrMalformed)
			}
			if code := int32(binary.NativeEndian.Uint32(m.Payload[:4])); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}

// Accept sends an accept verdict for one packet.
func (q *nfqSocket) Accept(p queuedPacket) error {
	return unix.Send(q.fd, verdictMessage(p.Queue, p.ID), 0)
}

// Read returns the packets of the next datagram from the kernel, or
// (nil, nil) when the read timed out.
func (q *nfqSocket) Read(buf []byte) ([]queuedPacket, error) {
	n, err := unix.Read(q.fd, buf)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natlab: nfqueue read: %w", err)
	}
	msgs, err := parseNetlink(buf[:n])
	if err != nil {
		return nil, err
	}
	var pkts []queuedPacket
	for _, m := range msgs {
		if m.Type != nfnlSubsysQueue<<8|nfqnlMsgPacket {
			continue
		}
		p, err := parseQueuedPacket(m.Payload)
		if err != nil {
			return pkts, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}
