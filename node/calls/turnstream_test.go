package calls

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parleyhq/parley/internal/turnstream"
)

// TestStreamTURNURLs: a bootstrap's TURN-over-TCP URLs give way to its
// TURN stream URL; UDP TURN and STUN stay.
func TestStreamTURNURLs(t *testing.T) {
	p, err := peer.Decode("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"turn:5.0.0.1:3478?transport=udp", "turn:5.0.0.1:3478?transport=tcp", "stun:5.0.0.1:3478"}
	got := streamTURNURLs(in, p)
	want := []string{"turn:5.0.0.1:3478?transport=udp", "stun:5.0.0.1:3478", turnstream.URL(p)}
	if !slices.Equal(got, want) {
		t.Fatalf("streamTURNURLs = %q, want %q", got, want)
	}
	if in[1] != "turn:5.0.0.1:3478?transport=tcp" {
		t.Fatal("streamTURNURLs changed its input")
	}
}
