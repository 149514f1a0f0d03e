package service

import (
	"errors"
	"strings"
	"testing"
)

func TestSettingKeys(t *testing.T) {
	for _, k := range SettingKeys() {
		got, err := ParseSettingKey(string(k))
		if err != nil || got != k {
			t.Errorf("ParseSettingKey(%q) = %q, %v", k, got, err)
		}
		if err := k.Check(k.Default()); err != nil {
			t.Errorf("%s: its default %q is refused: %v", k, k.Default(), err)
		}
	}
	_, err := ParseSettingKey("calls.auto_anwser")
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "known: calls.allow_non_contacts, calls.auto_answer, calls.auto_record") {
		t.Errorf("unknown key: %v", err)
	}
	if err := SettingAutoAnswer.Check("always"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("auto_answer=always: %v", err)
	}
	for _, v := range []string{"", "/any/dir", "rtp://127.0.0.1:5004", "rtp://localhost:5004", "rtp://[::1]:5004"} {
		if err := SettingAutoRecord.Check(v); err != nil {
			t.Errorf("auto_record=%q: %v", v, err)
		}
	}
	// Issue 16 item 4: these were taken, and nothing was recorded.
	for _, v := range []string{"rtp://8.8.8.8:9", "rtp://127.0.0.1", "relative/dir", "/some/call.ogg", "/x/y.wav"} {
		if err := SettingAutoRecord.Check(v); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("auto_record=%q: %v, want refused", v, err)
		}
	}
	if err := SettingKey("x").Check(""); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("Check of an unknown key: %v", err)
	}
	for _, k := range AccountSettings {
		if _, err := ParseSettingKey(string(k)); err != nil {
			t.Errorf("replicated setting %s is not a known one", k)
		}
	}
}

// TestAutoRecordWritable: calls.auto_record naming a directory the daemon
// cannot make is refused when set, not found out at the first call.
func TestAutoRecordWritable(t *testing.T) {
	if err := SettingAutoRecord.Check("/proc/parley-none"); err == nil {
		t.Fatal("calls.auto_record=/proc/parley-none accepted")
	}
	if err := SettingAutoRecord.Check(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
