package service

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SettingKey names a setting a user may change (parley set); the calls
// service reads them, the devices service syncs the account-wide ones.
// The store keeps a setting under the key's text.
type SettingKey string

// The settings.
const (
	// SettingAutoAnswer is "off" (default) or "contacts": answer calls from
	// contacts at once (headless nodes).
	SettingAutoAnswer SettingKey = "calls.auto_answer"
	// SettingAllowNonContacts, "true", lets accounts that are not contacts
	// ring this device. Off by default.
	SettingAllowNonContacts SettingKey = "calls.allow_non_contacts"
	// SettingAutoRecord is where auto-answered calls record received media
	// (a directory or rtp://127.0.0.1:PORT); empty: counted only.
	SettingAutoRecord SettingKey = "calls.auto_record"
)

// settingSpec is what a setting accepts and its value when unset.
type settingSpec struct {
	allowed []string // nil: any value (that check accepts)
	check   func(string) error
	def     string
}

// settingSpecs are the known settings.
var settingSpecs = map[SettingKey]settingSpec{
	SettingAutoAnswer:       {allowed: []string{"off", "contacts"}, def: "off"},
	SettingAllowNonContacts: {allowed: []string{"false", "true"}, def: "false"},
	SettingAutoRecord:       {check: checkAutoRecord, def: ""},
}

// AccountSettings are the settings that belong to the account and are
// replicated to all its devices (and carried in the account archive).
// Others (calls.auto_answer) are per device.
var AccountSettings = []SettingKey{SettingAllowNonContacts}

// SettingKeys returns the known settings, sorted.
func SettingKeys() []SettingKey {
	keys := make([]SettingKey, 0, len(settingSpecs))
	for k := range settingSpecs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ParseSettingKey looks up the setting named s (a local API request, a
// command line). An unknown name fails with ErrInvalidInput listing the
// known ones.
func ParseSettingKey(s string) (SettingKey, error) {
	k := SettingKey(s)
	if _, ok := settingSpecs[k]; !ok {
		return "", fmt.Errorf("%w: unknown setting %q (known: %s)", ErrInvalidInput, s, strings.Join(Names(SettingKeys()), ", "))
	}
	return k, nil
}

// Check reports whether value is allowed for k (ErrInvalidInput if not,
// or if k is not a known setting).
func (k SettingKey) Check(value string) error {
	spec, ok := settingSpecs[k]
	switch {
	case !ok:
		return fmt.Errorf("%w: unknown setting %q", ErrInvalidInput, string(k))
	case spec.allowed != nil && !slices.Contains(spec.allowed, value):
		return fmt.Errorf("%w: %s must be one of %v", ErrInvalidInput, k, spec.allowed)
	case spec.check != nil:
		if err := spec.check(value); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidInput, k, err)
		}
	}
	return nil
}

// checkAutoRecord accepts what every auto-answered call can record to:
// nothing (""), an absolute directory (each call gets new files in it), or
// rtp://HOST:PORT on this machine (media is forwarded in clear). A single
// file cannot take more than one call.
func checkAutoRecord(v string) error {
	switch {
	case v == "":
		return nil
	case strings.HasPrefix(v, "rtp://"):
		u, err := url.Parse(v)
		if err != nil || u.Port() == "" {
			return fmt.Errorf("%q: want rtp://127.0.0.1:PORT", v)
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("%q: received media is forwarded in clear, so only to this machine: rtp://127.0.0.1:%s", v, u.Port())
		}
		return nil
	case !filepath.IsAbs(v):
		return fmt.Errorf("%q: give an absolute directory (the daemon's working directory is not yours)", v)
	}
	switch strings.ToLower(filepath.Ext(v)) {
	case ".ogg", ".opus", ".ivf", ".wav":
		return fmt.Errorf("%q is one file, which cannot take every call: give a directory (each call gets new files in it)", v)
	}
	if fi, err := os.Stat(v); err == nil && !fi.IsDir() {
		return fmt.Errorf("%q is a file, not a directory", v)
	}
	return WritableDir(v)
}

// Default is k's value when it is not set.
func (k SettingKey) Default() string { return settingSpecs[k].def }
