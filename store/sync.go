package store

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/crypto"
)

// Keys of replicated items (SyncEntry.Key).
const (
	// SyncContactPrefix + account ID (text form) names a contact; see
	// SyncContactKey.
	SyncContactPrefix = "contact/"
	// SyncSettingPrefix + setting name names an account-wide setting.
	SyncSettingPrefix = "setting/"
)

// SyncContactKey is the key of the entry of the contact id.
func SyncContactKey(id crypto.AccountID) string { return SyncContactPrefix + id.String() }

// syncBaselineKey marks a store whose existing contacts and settings have
// been recorded as the version-zero baseline. It sorts before every item key.
var syncBaselineKey = []byte("\x00baseline")

// SyncEntry is one replicated item of an account's state (a contact or an
// account-wide setting) with its version. Devices of one account exchange
// entries and keep, per key, the one that wins (see Wins): a last-writer-wins
// register with a total order, so that every device that has seen the same
// entries holds the same state whatever the order they arrived in.
type SyncEntry struct {
	// Key is SyncContactPrefix + account ID or SyncSettingPrefix + name.
	Key string
	// Time is the version's hybrid-logical-clock time in nanoseconds:
	// at least the wall-clock time of the change and greater than every
	// version the device had seen when it made it. Zero is the baseline of
	// data that existed before the device synced for the first time.
	Time int64
	// Device is the device that made the change; it breaks ties between
	// equal times. It is empty in baseline entries.
	Device crypto.DeviceID
	// Deleted marks a removed contact or setting (a tombstone, kept so
	// that the removal wins over older copies).
	Deleted bool
	// Name, State and Message are a contact's fields.
	Name    string
	State   ContactState
	Message string
	// Asked is Contact.Asked in Unix nanoseconds (0 if none). A tombstone
	// keeps the Asked of the contact it deleted.
	Asked int64
	// Value is a setting's value.
	Value string
	// PresenceKey is a contact's presence key (zero if none). Applying
	// an entry never replaces a newer key the device holds.
	PresenceKey PresenceKey
}

// syncRecord is the JSON stored under the item key in bucketSync. Dev is
// the text form of the device ID.
type syncRecord struct {
	V       int          `json:"v"`
	T       int64        `json:"t"`
	Dev     string       `json:"dev,omitempty"`
	Del     bool         `json:"del,omitempty"`
	Name    string       `json:"name,omitempty"`
	State   ContactState `json:"state,omitempty"`
	Message string       `json:"msg,omitempty"`
	Asked   int64        `json:"asked,omitempty"`
	Value   string       `json:"value,omitempty"`
	PK      []byte       `json:"pk,omitempty"`
	PG      uint32       `json:"pg,omitempty"`
}

// content is the canonical form of the entry's value, the last tie-break.
func (e SyncEntry) content() []byte {
	del := "0"
	if e.Deleted {
		del = "1"
	}
	parts := []string{del, e.Name, string(e.State), e.Message, e.Value, strconv.FormatInt(e.Asked, 10)}
	if !e.PresenceKey.IsZero() {
		parts = append(parts, strconv.FormatUint(uint64(e.PresenceKey.Gen), 10), string(e.PresenceKey.Key[:]))
	}
	return []byte(strings.Join(parts, "\x00"))
}

// sameValue reports whether e and o hold the same value (ignoring versions).
func (e SyncEntry) sameValue(o SyncEntry) bool { return bytes.Equal(e.content(), o.content()) }

// Wins reports whether e supersedes o (entries of the same key): the later
// time; on equal times the greater device ID (compared in text form, the
// order every version has used); on equal versions the greater canonical
// value. Two different entries never both win, so the merge converges.
func (e SyncEntry) Wins(o SyncEntry) bool {
	if e.Time != o.Time {
		return e.Time > o.Time
	}
	if e.Device != o.Device {
		return e.Device.String() > o.Device.String()
	}
	return bytes.Compare(e.content(), o.content()) > 0
}

// maxSyncSkew is how far ahead of this device's clock a received version
// may be: a version far in the future would win every later change, for
// good (a device since revoked could plant one).
const maxSyncSkew = 10 * time.Minute

// validate checks an entry received from another device at now.
func (e SyncEntry) validate(settings []string, now time.Time) error {
	if e.Time < 0 || e.Asked < 0 {
		return fmt.Errorf("%w: negative version or request time", ErrInvalid)
	}
	if e.Time > now.Add(maxSyncSkew).UnixNano() || e.Asked > now.Add(maxSyncSkew).UnixNano() {
		return fmt.Errorf("%w: version or request time more than %v ahead of this device's clock", ErrInvalid, maxSyncSkew)
	}
	if e.Device != "" {
		if err := checkDevice("device ID", e.Device); err != nil {
			return err
		}
	}
	switch {
	case strings.HasPrefix(e.Key, SyncContactPrefix):
		id, err := parseContactKey(e.Key)
		if err != nil {
			return err
		}
		if e.Deleted {
			return nil
		}
		c := Contact{AccountID: id, Name: e.Name, State: e.State, Message: e.Message}
		return c.validate()
	case strings.HasPrefix(e.Key, SyncSettingPrefix):
		if !slices.Contains(settings, strings.TrimPrefix(e.Key, SyncSettingPrefix)) {
			return fmt.Errorf("%w: setting %q is not replicated", ErrInvalid, e.Key)
		}
		if len(e.Value) > maxSettingLen {
			return fmt.Errorf("%w: setting value too long", ErrInvalid)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown sync key %q", ErrInvalid, e.Key)
}

// parseContactKey returns the account of a contact entry's key. The key is
// a bucket key of the contacts, so only the canonical text form is taken.
func parseContactKey(key string) (crypto.AccountID, error) {
	text := strings.TrimPrefix(key, SyncContactPrefix)
	id, err := crypto.ParseAccountID(text)
	if err != nil {
		return id, fmt.Errorf("%w: sync key %q: %w", ErrInvalid, key, err)
	}
	if id.String() != text {
		return id, fmt.Errorf("%w: sync key %q: account ID not in canonical form", ErrInvalid, key)
	}
	return id, nil
}

func decodeSyncEntry(key, raw []byte) (SyncEntry, error) {
	var r syncRecord
	if err := decodeJSON(raw, &r); err != nil {
		return SyncEntry{}, err
	}
	if err := checkVersion(r.V); err != nil {
		return SyncEntry{}, err
	}
	var dev crypto.DeviceID
	if r.Dev != "" {
		var err error
		if dev, err = crypto.ParseDeviceID(r.Dev); err != nil {
			return SyncEntry{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	pk := (&contactRecord{PK: r.PK, PG: r.PG}).presenceKey()
	return SyncEntry{Key: string(key), Time: r.T, Device: dev, Deleted: r.Del,
		Name: r.Name, State: r.State, Message: r.Message, Asked: r.Asked, Value: r.Value, PresenceKey: pk}, nil
}

func putSyncEntry(b *bolt.Bucket, e SyncEntry) error {
	var dev string
	if e.Device != "" {
		dev = e.Device.String()
	}
	r := syncRecord{V: recordVersion, T: e.Time, Dev: dev, Del: e.Deleted,
		Name: e.Name, State: e.State, Message: e.Message, Asked: e.Asked, Value: e.Value}
	if !e.PresenceKey.IsZero() {
		r.PK, r.PG = e.PresenceKey.Key[:], e.PresenceKey.Gen
	}
	return putJSON(b, []byte(e.Key), r)
}

// syncTx is the state of one sync operation inside a write transaction.
type syncTx struct {
	s        *Store
	sync     *bolt.Bucket
	contacts *bolt.Bucket
	settings *bolt.Bucket
	entries  map[string]SyncEntry
	maxT     int64
}

func (s *Store) beginSync(tx *bolt.Tx) (*syncTx, error) {
	st := &syncTx{s: s, entries: map[string]SyncEntry{}}
	var err error
	if st.sync, err = bucket(tx, bucketSync); err != nil {
		return nil, err
	}
	if st.contacts, err = bucket(tx, bucketContacts); err != nil {
		return nil, err
	}
	if st.settings, err = bucket(tx, bucketSettings); err != nil {
		return nil, err
	}
	err = st.sync.ForEach(func(k, v []byte) error {
		if bytes.Equal(k, syncBaselineKey) {
			return nil
		}
		e, err := decodeSyncEntry(k, v)
		if err != nil {
			return fmt.Errorf("sync entry %q: %w", k, err)
		}
		st.entries[e.Key] = e
		st.maxT = max(st.maxT, e.Time)
		return nil
	})
	return st, err
}

// localValues reads the current contacts and the replicated settings as
// entries without versions. Contacts that do not decode are skipped.
func (st *syncTx) localValues(settings []string) (map[string]SyncEntry, map[string]int64) {
	vals := map[string]SyncEntry{}
	updated := map[string]int64{}
	_ = st.contacts.ForEach(func(k, v []byte) error {
		id, err := parseAccountKey(k)
		if err != nil {
			return nil
		}
		c, err := decodeContact(id, v)
		if err != nil {
			return nil
		}
		key := SyncContactPrefix + string(k)
		vals[key] = SyncEntry{Key: key, Name: c.Name, State: c.State, Message: c.Message, Asked: unixNano(c.Asked), PresenceKey: c.PresenceKey}
		updated[key] = c.Updated.UnixNano()
		return nil
	})
	for _, name := range settings {
		if v := st.settings.Get([]byte(name)); v != nil {
			key := SyncSettingPrefix + name
			vals[key] = SyncEntry{Key: key, Value: string(v)}
		}
	}
	return vals, updated
}

// record versions local changes: every contact or setting whose value
// differs from its entry gets a new version made by device, and every
// entry whose item is gone gets a tombstone. On the first call (no
// baseline yet) existing values are recorded with version zero instead.
func (st *syncTx) record(device crypto.DeviceID, settings []string) (int, error) {
	vals, updated := st.localValues(settings)
	baseline := st.sync.Get(syncBaselineKey) == nil
	now := st.s.now().UnixNano()
	changed := 0
	put := func(e SyncEntry, at int64) error {
		if baseline {
			e.Time, e.Device = 0, ""
		} else {
			e.Time, e.Device = max(at, st.maxT+1), device
		}
		st.maxT = max(st.maxT, e.Time)
		st.entries[e.Key] = e
		changed++
		return putSyncEntry(st.sync, e)
	}
	for _, key := range sortedKeys(vals) {
		v := vals[key]
		if old, ok := st.entries[key]; ok && old.sameValue(v) {
			continue
		}
		at := now
		if u, ok := updated[key]; ok && u > 0 {
			at = min(u, now)
		}
		if err := put(v, at); err != nil {
			return changed, err
		}
	}
	for _, key := range sortedKeys(st.entries) {
		e := st.entries[key]
		if _, ok := vals[key]; ok || e.Deleted {
			continue
		}
		if strings.HasPrefix(key, SyncSettingPrefix) && !slices.Contains(settings, strings.TrimPrefix(key, SyncSettingPrefix)) {
			continue
		}
		if err := put(SyncEntry{Key: key, Deleted: true, Asked: e.Asked}, now); err != nil {
			return changed, err
		}
	}
	if baseline {
		if err := st.sync.Put(syncBaselineKey, []byte{1}); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// apply stores a winning remote entry and its value.
func (st *syncTx) apply(e SyncEntry) error {
	switch {
	case strings.HasPrefix(e.Key, SyncContactPrefix):
		acct, err := parseContactKey(e.Key)
		if err != nil {
			return err
		}
		id := accountKey(acct)
		if e.Deleted {
			if err := st.contacts.Delete(id); err != nil {
				return err
			}
			break
		}
		now := st.s.now().UTC().Round(0)
		rec := contactRecord{V: recordVersion, Name: e.Name, State: e.State, Message: e.Message, Created: now, Updated: now}
		if e.Asked != 0 {
			rec.Asked = time.Unix(0, e.Asked).UTC()
		}
		if raw := st.contacts.Get(id); raw != nil {
			if old, err := decodeContact(acct, raw); err == nil {
				rec.Created = old.Created
				rec.setPresenceKey(old.PresenceKey)
			}
		}
		rec.setPresenceKey(e.PresenceKey)
		if err := putJSON(st.contacts, id, &rec); err != nil {
			return err
		}
	default:
		name := []byte(strings.TrimPrefix(e.Key, SyncSettingPrefix))
		var err error
		if e.Deleted {
			err = st.settings.Delete(name)
		} else {
			err = st.settings.Put(name, []byte(e.Value))
		}
		if err != nil {
			return err
		}
	}
	st.entries[e.Key] = e
	st.maxT = max(st.maxT, e.Time)
	return putSyncEntry(st.sync, e)
}

func (st *syncTx) list() []SyncEntry {
	out := make([]SyncEntry, 0, len(st.entries))
	for _, k := range sortedKeys(st.entries) {
		out = append(out, st.entries[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// answered reports whether one of two versions of a contact is a received
// request that the other answered: a "request-received" entry next to an
// accepted or blocked contact, or a deletion (a declined request), that
// answered the same request or a later one (its Asked is not before the
// request's). It returns the answer. Every device of the account receives
// a contact's request and records it; without this rule the copy recorded
// last would undo an acceptance made on another device, whatever the
// order. A request made after the answer (a contact removed, then asked
// again) has a later Asked and is not affected.
func answered(a, b SyncEntry) (SyncEntry, bool) {
	if !strings.HasPrefix(a.Key, SyncContactPrefix) {
		return SyncEntry{}, false
	}
	isRequest := func(e SyncEntry) bool { return !e.Deleted && e.State == RequestReceived && e.Asked > 0 }
	isAnswer := func(e SyncEntry) bool { return e.Deleted || e.State == Accepted || e.State == Blocked }
	// A block answers every request: a blocked account's requests are
	// refused where the block is known, so a request recorded next to a
	// block was made before the block reached that device.
	answers := func(ans, req SyncEntry) bool {
		return isAnswer(ans) && isRequest(req) && (ans.State == Blocked && !ans.Deleted || ans.Asked >= req.Asked)
	}
	switch {
	case answers(b, a):
		return b, true
	case answers(a, b):
		return a, true
	}
	return SyncEntry{}, false
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// SyncState records local changes (see MergeSync) made since the last call
// as new versions by device, and returns every entry sorted by key:
// what this device sends to the other devices of its account. settings
// names the account-wide settings that are replicated.
func (s *Store) SyncState(device crypto.DeviceID, settings []string) ([]SyncEntry, error) {
	if err := checkDevice("device ID", device); err != nil {
		return nil, fmt.Errorf("store: sync state: %w", err)
	}
	var out []SyncEntry
	err := s.db.Update(func(tx *bolt.Tx) error {
		st, err := s.beginSync(tx)
		if err != nil {
			return err
		}
		if _, err := st.record(device, settings); err != nil {
			return err
		}
		out = st.list()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: sync state: %w", err)
	}
	return out, nil
}

// SyncPending reports, without writing, whether contacts or replicated
// settings changed since their entries were last recorded.
func (s *Store) SyncPending(settings []string) (bool, error) {
	pending := false
	err := s.db.View(func(tx *bolt.Tx) error {
		st, err := s.beginSync(tx)
		if err != nil {
			return err
		}
		if st.sync.Get(syncBaselineKey) == nil {
			pending = true
			return nil
		}
		vals, _ := st.localValues(settings)
		for key, v := range vals {
			if old, ok := st.entries[key]; !ok || !old.sameValue(v) {
				pending = true
				return nil
			}
		}
		for key, e := range st.entries {
			if _, ok := vals[key]; !ok && !e.Deleted && strings.HasPrefix(key, SyncContactPrefix) {
				pending = true
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: sync pending: %w", err)
	}
	return pending, nil
}

// SyncMerge is the outcome of MergeSync.
type SyncMerge struct {
	// Applied are the remote entries that won and were applied.
	Applied []SyncEntry
	// Recorded counts local changes versioned by this call (made since the
	// last SyncState): they have not been sent anywhere yet.
	Recorded int
	// Skipped counts remote entries refused as invalid.
	Skipped int
}

// MergeSync merges entries received from another device of the account, in
// one transaction: it first records local changes (as SyncState does, so a
// local change made before the merge is versioned before it is compared),
// then, for each remote entry that wins over the local one (SyncEntry.Wins),
// applies it to the contacts or settings and stores it. Entries that fail
// validation (malformed, oversized, a setting not in settings) are skipped.
func (s *Store) MergeSync(device crypto.DeviceID, settings []string, remote []SyncEntry) (SyncMerge, error) {
	if err := checkDevice("device ID", device); err != nil {
		return SyncMerge{}, fmt.Errorf("store: merge sync: %w", err)
	}
	var res SyncMerge
	err := s.db.Update(func(tx *bolt.Tx) error {
		res = SyncMerge{}
		st, err := s.beginSync(tx)
		if err != nil {
			return err
		}
		if res.Recorded, err = st.record(device, settings); err != nil {
			return err
		}
		for _, e := range remote {
			if e.validate(settings, s.now()) != nil {
				res.Skipped++
				continue
			}
			old, ok := st.entries[e.Key]
			if ok {
				if a, yes := answered(e, old); yes && (e.Wins(old) != (a == e)) {
					// The last-writer-wins choice would be a copy of
					// a request that the other entry answered: the
					// answer stands instead, as a new version that
					// wins over both.
					a.Time, a.Device = max(e.Time, old.Time, st.maxT)+1, device
					if err := st.apply(a); err != nil {
						return err
					}
					res.Applied = append(res.Applied, a)
					res.Recorded++
					continue
				}
				if !e.Wins(old) {
					continue
				}
			}
			if err := st.apply(e); err != nil {
				return err
			}
			res.Applied = append(res.Applied, e)
		}
		return nil
	})
	if err != nil {
		return SyncMerge{}, fmt.Errorf("store: merge sync: %w", err)
	}
	return res, nil
}
