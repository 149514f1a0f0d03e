package media

import (
	"errors"

	"github.com/pion/rtp"
)

// tee writes every packet to several sinks.
type tee []Sink

// Tee returns a Sink that writes each packet to every one of sinks, in order
// (a packet is shared, not copied: sinks do not keep or modify it). Errors
// are joined; one failing sink does not stop the others. Close closes them
// all.
func Tee(sinks ...Sink) Sink {
	return tee(append([]Sink(nil), sinks...))
}

func (t tee) WriteRTP(p *rtp.Packet) error {
	var errs []error
	for _, s := range t {
		if err := s.WriteRTP(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (t tee) Close() error {
	var errs []error
	for _, s := range t {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
