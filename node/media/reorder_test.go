package media

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pion/rtp"
)

func TestReorder(t *testing.T) {
	tests := []struct {
		name    string
		maxLate int
		in      []uint16
		want    []string // released, "!" marks a reported loss; after "|" the flush
	}{
		{"in order", 4, []uint16{1, 2, 3}, []string{"1", "2", "3", "|"}},
		{"swap", 4, []uint16{1, 3, 2, 4}, []string{"1", "2", "3", "4", "|"}},
		{"duplicate and late dropped", 4, []uint16{1, 2, 2, 1, 3}, []string{"1", "2", "3", "|"}},
		{"wrap", 4, []uint16{65534, 0, 65535, 1}, []string{"65534", "65535", "0", "1", "|"}},
		{"gap given up after maxLate", 2, []uint16{1, 3, 4, 5}, []string{"1", "!3", "4", "5", "|"}},
		{"gap waits for flush", 8, []uint16{1, 3, 4}, []string{"1", "|", "!3", "4"}},
		{"packet before the first", 8, []uint16{5, 4, 6}, []string{"5", "6", "|"}},
		{"jump", 8, []uint16{1, 30001, 30002}, []string{"1", "!30001", "30002", "|"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			emit := func(p *rtp.Packet, lost bool) {
				s := fmt.Sprint(p.SequenceNumber)
				if lost {
					s = "!" + s
				}
				got = append(got, s)
			}
			r := newReorder(tt.maxLate)
			for _, s := range tt.in {
				r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}}, emit)
			}
			got = append(got, "|")
			r.flush(emit)
			if !slices.Equal(got, tt.want) {
				t.Errorf("released %v, want %v", got, tt.want)
			}
			if len(r.buf) != 0 {
				t.Errorf("%d packets left after flush", len(r.buf))
			}
		})
	}
}
