package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SetSetting stores value under key, replacing any earlier value. Keys are
// non-empty UTF-8 of at most 256 bytes; values are at most 64 KiB. The store
// gives keys no meaning; callers own their names.
func (s *Store) SetSetting(key, value string) error {
	if err := checkKey("setting key", key); err != nil {
		return fmt.Errorf("store: set setting: %w", err)
	}
	if len(value) > maxSettingLen {
		return fmt.Errorf("store: set setting %q: %w: value is %d bytes, max %d",
			key, ErrInvalid, len(value), maxSettingLen)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketSettings)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(value))
	})
	if err != nil {
		return fmt.Errorf("store: set setting %q: %w", key, err)
	}
	return nil
}

// Setting returns the value stored under key and whether there is one.
func (s *Store) Setting(key string) (string, bool, error) {
	var (
		value string
		ok    bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketSettings)
		if err != nil {
			return err
		}
		if raw := b.Get([]byte(key)); raw != nil {
			value, ok = string(raw), true
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("store: setting %q: %w", key, err)
	}
	return value, ok, nil
}

// Settings returns all settings. The map is empty (not nil) when there are
// none.
func (s *Store) Settings() (map[string]string, error) {
	m := make(map[string]string)
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketSettings)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			m[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: settings: %w", err)
	}
	return m, nil
}

// DeleteSetting removes the setting under key. Removing a setting that is
// not there is not an error.
func (s *Store) DeleteSetting(key string) error {
	if err := checkKey("setting key", key); err != nil {
		return fmt.Errorf("store: delete setting: %w", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketSettings)
		if err != nil {
			return err
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("store: delete setting %q: %w", key, err)
	}
	return nil
}
