package store_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, nil)
	if v, ok, err := s.Setting("missing"); v != "" || ok || err != nil {
		t.Fatalf("Setting(missing) = %q, %v, %v", v, ok, err)
	}
	if m, err := s.Settings(); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("Settings on empty store = %v, %v; want empty map", m, err)
	}
	want := map[string]string{
		"listen":    "/ip4/0.0.0.0/udp/4001/quic-v1",
		"empty":     "",
		"big":       strings.Repeat("b", 64<<10),
		"ünïcødé":   "✓",
		"overwrite": "second",
	}
	if err := s.SetSetting("overwrite", "first"); err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if err := s.SetSetting(k, v); err != nil {
			t.Fatalf("SetSetting(%q): %v", k, err)
		}
	}
	s.Close()
	s = mustOpen(t, dir, nil)
	for k, v := range want {
		got, ok, err := s.Setting(k)
		if err != nil || !ok || got != v {
			t.Errorf("Setting(%q) = %.20q, %v, %v; want %.20q", k, got, ok, err, v)
		}
	}
	got, err := s.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Settings differ: got %d keys, want %d", len(got), len(want))
	}
	if err := s.DeleteSetting("listen"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Setting("listen"); ok {
		t.Fatal("setting still there after DeleteSetting")
	}
	if err := s.DeleteSetting("listen"); err != nil {
		t.Fatalf("deleting an absent setting: %v", err)
	}
}

func TestSetSettingInvalid(t *testing.T) {
	tests := []struct {
		name, key, value string
	}{
		{"empty key", "", "v"},
		{"long key", strings.Repeat("k", 257), "v"},
		{"key not UTF-8", "\xff", "v"},
		{"huge value", "k", strings.Repeat("v", 64<<10+1)},
	}
	s := storetest.MustOpen(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.SetSetting(tt.key, tt.value); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("SetSetting error = %v, want ErrInvalid", err)
			}
		})
	}
	if m, _ := s.Settings(); len(m) != 0 {
		t.Fatalf("invalid settings were stored: %d", len(m))
	}
}
