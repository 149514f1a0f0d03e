package cliutil

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// Range tags. A flag of type time.Duration or of an integer type may carry
// min:"..." and max:"..." (durations as "100ms", integers as "1"); either
// may be left out. NewParser appends the range to the flag's help, Parse
// refuses a value outside it whether it came from the command line, the
// environment or the default, and LoadConfig refuses one in a config file.

// bounds is a flag's range; durations are in nanoseconds.
type bounds struct {
	min, max       int64
	hasMin, hasMax bool
	text           string // "100ms to 1h", "at least 1", "at most 10m"
}

// flagBounds reads f's min and max tags; ok is false when it has none.
func flagBounds(f *kong.Flag) (b bounds, ok bool, err error) {
	minTag, maxTag := f.Tag.Get("min"), f.Tag.Get("max")
	if minTag == "" && maxTag == "" {
		return b, false, nil
	}
	t := f.Target.Type()
	parse := func(s string) (int64, error) {
		switch {
		case t == durationType:
			d, err := time.ParseDuration(s)
			return int64(d), err
		case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
			return strconv.ParseInt(s, 10, 64)
		}
		return 0, fmt.Errorf("min/max tags need a duration or an integer flag, not %s", t)
	}
	if minTag != "" {
		if b.min, err = parse(minTag); err != nil {
			return b, false, fmt.Errorf("--%s: min tag: %w", f.Name, err)
		}
		b.hasMin = true
	}
	if maxTag != "" {
		if b.max, err = parse(maxTag); err != nil {
			return b, false, fmt.Errorf("--%s: max tag: %w", f.Name, err)
		}
		b.hasMax = true
	}
	switch {
	case b.hasMin && b.hasMax:
		if b.min > b.max {
			return b, false, fmt.Errorf("--%s: min %s above max %s", f.Name, minTag, maxTag)
		}
		b.text = minTag + " to " + maxTag
	case b.hasMin:
		b.text = "at least " + minTag
	default:
		b.text = "at most " + maxTag
	}
	return b, true, nil
}

// checkRange refuses v (a value of f's type) outside f's range.
func checkRange(f *kong.Flag, v reflect.Value) error {
	b, ok, err := flagBounds(f)
	if err != nil || !ok {
		return err
	}
	n := v.Int()
	if (b.hasMin && n < b.min) || (b.hasMax && n > b.max) {
		return errorf(ErrOutOfRange, "%s is out of range (allowed: %s)", formatValue(v), b.text)
	}
	return nil
}

// formatValue prints a duration or integer flag value as it would be typed.
func formatValue(v reflect.Value) string {
	if v.Type() == durationType {
		return FormatDuration(time.Duration(v.Int()))
	}
	return strconv.FormatInt(v.Int(), 10)
}

// FormatDuration is d as a person writes it: "1h", "90s", "1m30s", "100ms"
// (time.Duration.String gives "1h0m0s").
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// documentRanges checks the range tags of every flag of app and appends each
// range to its flag's help.
func documentRanges(app *kong.Application) error {
	var walk func(n *kong.Node) error
	walk = func(n *kong.Node) error {
		for _, f := range n.Flags {
			b, ok, err := flagBounds(f)
			if err != nil {
				return err
			}
			if ok {
				f.Help = strings.TrimSuffix(f.Help, ".") + "; " + b.text + "."
			}
		}
		for _, ch := range n.Children {
			if err := walk(ch); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(app.Node)
}

// checkFlagRanges refuses a flag of the selected command whose value is
// outside its range.
func checkFlagRanges(kctx *kong.Context) error {
	for _, f := range kctx.Flags() {
		if err := checkRange(f, f.Target); err != nil {
			name := "--" + f.Name
			if len(f.Envs) > 0 {
				name += " ($" + strings.Join(f.Envs, ", $") + ")"
			}
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
