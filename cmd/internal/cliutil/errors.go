package cliutil

import "errors"

var (
	// ErrConfigSyntax means a config file is not one JSON object of keys
	// and values (or is too large, or gives a key twice).
	ErrConfigSyntax = errors.New("not a valid config file")

	// ErrUnknownKey means a config file has a key that is no flag it may
	// set.
	ErrUnknownKey = errors.New("unknown key")

	// ErrConfigValue means a value in a config file is not one its flag
	// takes: the wrong JSON type (a number for a duration), not one of an
	// enum's values, null.
	ErrConfigValue = errors.New("bad value")

	// ErrOutOfRange means a flag's value, from the command line, the
	// environment or a config file, is outside its min/max tags.
	ErrOutOfRange = errors.New("out of range")
)
