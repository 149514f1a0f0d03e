package cliutil

import (
	"errors"
	"fmt"
	"io"

	"github.com/alecthomas/kong"
)

// exitPanic carries kong's exit code out of Parse (kong exits after --help
// and --version; binaries and tests want a return value instead).
type exitPanic struct{ code int }

// NewParser builds a kong parser for a binary whose output goes to stdout and
// stderr, and whose --help/--version exits are returned, not taken. Flags'
// min/max tags are checked and their ranges appended to the flags' help.
func NewParser(grammar any, name, description string, vars kong.Vars, stdout, stderr io.Writer, opts ...kong.Option) (*kong.Kong, error) {
	vars = vars.CloneWith(kong.Vars{"version": VersionString(name)})
	base := []kong.Option{
		kong.Name(name),
		kong.Description(description),
		vars,
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitPanic{code}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	}
	k, err := kong.New(grammar, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	if err := documentRanges(k.Model); err != nil {
		return nil, err
	}
	return k, nil
}

// Parse parses args. When kong handled them itself (--help, --version, a
// usage error) or a flag is outside its min/max range, it returns a nil
// context and the exit code.
func Parse(p *kong.Kong, args []string, stderr io.Writer) (kctx *kong.Context, code int) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			kctx, code = nil, e.code
		}
	}()
	kctx, err := p.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Model.Name, err)
		var pe *kong.ParseError
		var ce *ConfigError // the file is wrong, not the command line
		if errors.As(err, &pe) && pe.Context != nil && !errors.As(err, &ce) {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", p.Model.Name)
		}
		return nil, 2
	}
	if err := checkFlagRanges(kctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Model.Name, err)
		return nil, 2
	}
	return kctx, 0
}
