package pktcount

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/stun/v4"
)

func mustSTUN(t testing.TB, typ stun.MessageType) []byte {
	t.Helper()
	m, err := stun.Build(typ, stun.TransactionID)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func channelData(payload []byte) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint16(b, 0x4001)
	binary.BigEndian.PutUint16(b[2:], uint16(len(payload)))
	copy(b[4:], payload)
	return b
}

func TestClassify(t *testing.T) {
	rtpPkt, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: make([]byte, 160)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rtcpPkt, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1}})
	if err != nil {
		t.Fatal(err)
	}
	req := mustSTUN(t, stun.BindingRequest)
	tests := []struct {
		name string
		b    []byte
		want Kind
	}{
		{"binding request", req, STUNBindingRequest},
		{"binding success", mustSTUN(t, stun.BindingSuccess), STUNBindingResponse},
		{"binding error", mustSTUN(t, stun.BindingError), STUNBindingResponse},
		{"allocate", mustSTUN(t, stun.NewType(stun.MethodAllocate, stun.ClassRequest)), TURNControl},
		{"refresh answer", mustSTUN(t, stun.NewType(stun.MethodRefresh, stun.ClassSuccessResponse)), TURNControl},
		{"send indication", mustSTUN(t, stun.NewType(stun.MethodSend, stun.ClassIndication)), TURNIndication},
		{"data indication", mustSTUN(t, stun.NewType(stun.MethodData, stun.ClassIndication)), TURNIndication},
		{"rtp", rtpPkt, SRTP},
		{"rtcp", rtcpPkt, SRTCP},
		{"channel stun", channelData(req), ChannelSTUN},
		{"channel rtp", channelData(rtpPkt), ChannelSRTP},
		{"channel rtcp", channelData(rtcpPkt), ChannelSRTCP},
		{"channel junk", channelData([]byte{1, 2, 3}), ChannelOther},
		{"short channel", []byte{0x40, 0x00}, Other},
		{"empty", nil, Other},
		{"junk", []byte{0xFF, 1, 2, 3}, Other},
	}
	for _, tt := range tests {
		if got := Classify(tt.b); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte{})
	f.Add(mustSTUN(f, stun.BindingRequest))
	f.Add(channelData(mustSTUN(f, stun.BindingSuccess)))
	f.Add([]byte{0x80, 0xC9, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		if k < 0 || k >= numKinds {
			t.Fatalf("Classify(%x) = %d", b, k)
		}
	})
}
