package cliutil

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReadLineGivesUpOnCancel: a prompt waiting for a person's answer
// returns at once when the command is interrupted (the new user's review:
// Ctrl-C at every prompt was ignored until Enter was pressed, and then the
// cancelled operation went ahead).
func TestReadLineGivesUpOnCancel(t *testing.T) {
	r, w, err := os.Pipe() // nothing is ever written: a person who does not answer
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := ReadLine(ctx, r)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadLine after Ctrl-C: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLine still waits for input after the context was cancelled")
	}
	line, err := ReadLine(context.Background(), strings.NewReader("y\r\nmore"))
	if err != nil || line != "y" {
		t.Fatalf("ReadLine = %q, %v; want \"y\"", line, err)
	}
	if line, err := ReadLine(context.Background(), strings.NewReader("no newline")); err != nil || line != "no newline" {
		t.Fatalf("ReadLine without a newline = %q, %v", line, err)
	}
}
