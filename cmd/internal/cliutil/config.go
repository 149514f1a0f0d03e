package cliutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/alecthomas/kong"
)

// ConfigFile is the type of a binary's --config flag: a JSON file holding an
// object whose keys are long flag names in snake_case ("dht_mode" for
// --dht-mode), lists as arrays and durations as strings ("15s", "1h").
//
// The file may set the application's own flags and, when the flag's tag
// says config-commands:"run,...", those of the commands named. It is checked
// whole before anything runs, and every error names the file (and the line
// when it is about one key): a key that is no such flag, a value the flag
// would not parse, a duration given as a JSON number (which would mean
// nanoseconds), a value outside the flag's min/max tags.
//
// Precedence is kong's: command line over file, file over environment,
// environment over default.
type ConfigFile string

// configCommandsTag names the tag on a ConfigFile flag listing the commands
// whose flags the file may set besides the application's.
const configCommandsTag = "config-commands"

// maxConfigSize bounds a config file.
const maxConfigSize = 1 << 20

// BeforeResolve loads the file when the flag is set (on the command line or
// from its environment variable) and adds it to kong's resolvers. kong calls
// it.
func (ConfigFile) BeforeResolve(kctx *kong.Context, trace *kong.Path) error {
	path, _ := kctx.FlagValue(trace.Flag).(ConfigFile)
	if path == "" {
		return nil
	}
	r, err := LoadConfig(kong.ExpandPath(string(path)), kctx.Model)
	if err != nil {
		return err
	}
	kctx.AddResolver(r)
	return nil
}

// ConfigError is what is wrong with a config file.
type ConfigError struct {
	File string // as given
	Line int    // 1-based; 0 when the error is not about one place
	Err  error
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("config file %s, line %d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("config file %s: %v", e.File, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads and checks the config file for app and returns it as a
// kong resolver. Every error is a *ConfigError.
func LoadConfig(file string, app *kong.Application) (kong.Resolver, error) {
	data, err := readConfig(file)
	if err != nil {
		return nil, &ConfigError{File: file, Err: err}
	}
	entries, err := parseConfig(data)
	if err != nil {
		var pe *posError
		if errors.As(err, &pe) {
			return nil, &ConfigError{File: file, Line: lineAt(data, pe.offset), Err: pe.err}
		}
		return nil, &ConfigError{File: file, Err: err}
	}
	flags := ConfigFlags(app)
	values := make(map[string]any, len(entries))
	for _, e := range entries {
		if err := checkEntry(flags, e); err != nil {
			return nil, &ConfigError{File: file, Line: lineAt(data, e.offset), Err: err}
		}
		values[e.key] = e.value
	}
	return configResolver(values), nil
}

func readConfig(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err // *PathError: names the operation
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, errorf(ErrConfigSyntax, "larger than %d bytes", maxConfigSize)
	}
	return data, nil
}

// configEntry is one key of the file.
type configEntry struct {
	key    string
	offset int64           // of the end of the key, for its line
	raw    json.RawMessage // the value as written
	value  any             // the value decoded as kong.JSON does
}

// posError is a parse error at a byte offset.
type posError struct {
	offset int64
	err    error
}

func (e *posError) Error() string { return e.err.Error() }

// parseConfig splits the top-level object into its keys, in file order, and
// refuses anything else: not an object, a key given twice, data after the
// object.
func parseConfig(data []byte) ([]configEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &posError{se.Offset, errorf(ErrConfigSyntax, "invalid JSON: %v", err)}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &posError{int64(len(data)), errorf(ErrConfigSyntax, "invalid JSON: the file ends inside the object")}
		}
		return &posError{dec.InputOffset(), errorf(ErrConfigSyntax, "invalid JSON: %v", err)}
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errorf(ErrConfigSyntax, "the file is empty; it must hold a JSON object ({...})")
		}
		return nil, syntax(err)
	}
	if tok != json.Delim('{') {
		return nil, &posError{dec.InputOffset(), errorf(ErrConfigSyntax, "the file must hold a JSON object ({...}), not %s", jsonKind(tok))}
	}
	var entries []configEntry
	seen := map[string]int64{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		key := tok.(string) // inside an object the decoder only returns string keys
		e := configEntry{key: key, offset: dec.InputOffset()}
		if prev, ok := seen[key]; ok {
			return nil, &posError{e.offset, errorf(ErrConfigSyntax, "%q is given twice (first at line %d)", key, lineAt(data, prev))}
		}
		seen[key] = e.offset
		if err := dec.Decode(&e.raw); err != nil {
			return nil, syntax(err)
		}
		if err := json.Unmarshal(e.raw, &e.value); err != nil {
			return nil, syntax(err)
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntax(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &posError{dec.InputOffset(), errorf(ErrConfigSyntax, "data after the JSON object")}
	}
	return entries, nil
}

// jsonKind names the JSON value a first token starts.
func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// lineAt is the 1-based line of a byte offset.
func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// durationType is the type of duration flags.
var durationType = reflect.TypeFor[time.Duration]()

// checkEntry checks one key and its value against the flag it names.
func checkEntry(flags map[string]*kong.Flag, e configEntry) error {
	f := flags[e.key]
	if f == nil {
		return unknownKey(flags, e.key)
	}
	if err := checkJSONType(f, e); err != nil {
		return err
	}
	// Decode into a scratch value with the flag's own mapper, as kong will
	// later: an error is found here, where the file can be named.
	v := reflect.New(f.Target.Type()).Elem()
	scan := kong.Scan().PushTyped(e.value, kong.FlagValueToken)
	if err := f.Mapper.Decode(&kong.DecodeContext{Value: f.Value, Scan: scan}, v); err != nil {
		return errorf(ErrConfigValue, "%q: %v", e.key, err)
	}
	if f.Enum != "" {
		if s, ok := e.value.(string); ok && !f.EnumMap()[s] {
			return errorf(ErrConfigValue, "%q: %q is not one of %s", e.key, s, strings.Join(f.EnumSlice(), ", "))
		}
	}
	if err := checkRange(f, v); err != nil {
		return fmt.Errorf("%q: %w", e.key, err)
	}
	return nil
}

// checkJSONType refuses a value of the wrong JSON type for its flag: a
// number for a duration (it would be nanoseconds), a string for a number or
// a boolean, a string for a list.
func checkJSONType(f *kong.Flag, e configEntry) error {
	t := f.Target.Type()
	switch v := e.value.(type) {
	case nil:
		return errorf(ErrConfigValue, "%q: null is not a value; leave the key out to get the default", e.key)
	case string:
		switch {
		case t == durationType:
			if _, err := time.ParseDuration(v); err != nil {
				return errorf(ErrConfigValue, "%q: %q is not a duration; use a number with a unit, such as \"500ms\", \"15s\" or \"1h\"", e.key, v)
			}
			return nil
		case t.Kind() == reflect.String:
			return nil
		}
	case float64:
		switch {
		case t == durationType:
			return errorf(ErrConfigValue, "%q: use a string such as %s, not %s (a duration needs a unit: ms, s, m, h)", e.key, durationHint(v), e.raw)
		case isInt(t) && v != float64(int64(v)):
			return errorf(ErrConfigValue, "%q: use a whole number, not %s", e.key, e.raw)
		case isInt(t):
			return nil
		}
	case bool:
		if t.Kind() == reflect.Bool {
			return nil
		}
	case []any:
		if t.Kind() != reflect.Slice {
			break
		}
		if t.Elem().Kind() == reflect.String {
			for _, el := range v {
				if _, ok := el.(string); !ok {
					return errorf(ErrConfigValue, "%q: use a list of strings, not %s", e.key, e.raw)
				}
			}
		}
		return nil // the mapper checks other elements
	}
	return errorf(ErrConfigValue, "%q: use %s, not %s", e.key, jsonTypeFor(t), e.raw)
}

// isInt says whether t is a signed or unsigned integer type.
func isInt(t reflect.Type) bool {
	return t != durationType && t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64
}

// jsonTypeFor describes the JSON value a flag of type t takes.
func jsonTypeFor(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a string such as "15s"`
	case isInt(t):
		return "a whole number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice:
		return `a list such as ["a", "b"]`
	case t.Kind() == reflect.String:
		return "a string"
	}
	return "a value of type " + t.String()
}

// errorf is an error with the message format gives that wraps kind for
// errors.Is without repeating its text.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind, fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// durationHint turns a number given for a duration into the string meant,
// reading it as seconds (the likely intent).
func durationHint(n float64) string {
	if n > 0 && n < 1e9 {
		return fmt.Sprintf("%q", FormatDuration(time.Duration(n*float64(time.Second))))
	}
	return `"15s"`
}

// unknownKey says a key names no flag the file may set, suggesting the one
// meant when only its spelling differs (dht-mode, dhtMode).
func unknownKey(flags map[string]*kong.Flag, key string) error {
	allowed := make([]string, 0, len(flags))
	for k := range flags {
		allowed = append(allowed, k)
	}
	slices.Sort(allowed)
	for _, k := range allowed {
		if normalizeKey(k) == normalizeKey(key) {
			return errorf(ErrUnknownKey, "unknown key %q: did you mean %q? (keys are long flag names in snake_case)", key, k)
		}
	}
	return errorf(ErrUnknownKey, "unknown key %q; allowed: %s", key, strings.Join(allowed, ", "))
}

// normalizeKey folds case, dashes and camelCase humps to snake_case.
func normalizeKey(k string) string {
	var b strings.Builder
	for i, r := range k {
		switch {
		case r == '-' || r == '.' || r == ' ':
			b.WriteByte('_')
		case unicode.IsUpper(r):
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ConfigFlags returns the flags a config file for app may set, by key: the
// application's flags and those of the commands its ConfigFile flag names,
// less the config flag itself, --help and --version.
func ConfigFlags(app *kong.Application) map[string]*kong.Flag {
	var commands []string
	for _, f := range app.Flags {
		if f.Target.Type() == reflect.TypeFor[ConfigFile]() {
			for c := range strings.SplitSeq(f.Tag.Get(configCommandsTag), ",") {
				if c = strings.TrimSpace(c); c != "" {
					commands = append(commands, c)
				}
			}
		}
	}
	out := map[string]*kong.Flag{}
	add := func(n *kong.Node) {
		for _, f := range n.Flags {
			switch f.Target.Type() {
			case reflect.TypeFor[ConfigFile](), reflect.TypeFor[kong.VersionFlag]():
				continue
			}
			if f.Name == "help" {
				continue
			}
			out[strings.ReplaceAll(f.Name, "-", "_")] = f
		}
	}
	add(app.Node)
	for _, ch := range app.Children {
		if slices.Contains(commands, ch.Name) {
			add(ch)
		}
	}
	return out
}

// ConfigKeys lists the keys a config file for app may hold, sorted.
func ConfigKeys(app *kong.Application) []string {
	var keys []string
	for k := range ConfigFlags(app) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// configResolver gives kong the file's checked values by flag name. A flag of
// another command with the same name as one the file may set (parleyd init
// --bootstrap, like run --bootstrap) takes the value too.
type configResolver map[string]any

func (r configResolver) Validate(*kong.Application) error { return nil } // checked when loaded

func (r configResolver) Resolve(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
	if f.Target.Type() == reflect.TypeFor[ConfigFile]() {
		return nil, nil
	}
	return r[strings.ReplaceAll(f.Name, "-", "_")], nil
}
