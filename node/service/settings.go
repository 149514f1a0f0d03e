package service

// Settings a user may change (parley set); the calls service reads them,
// the devices service syncs the account-wide ones.
const (
	// SettingAutoAnswer is "off" (default) or "contacts": answer calls from
	// contacts at once (headless nodes).
	SettingAutoAnswer = "calls.auto_answer"
	// SettingAllowNonContacts, "true", lets accounts that are not contacts
	// ring this device. Off by default.
	SettingAllowNonContacts = "calls.allow_non_contacts"
	// SettingAutoRecord is where auto-answered calls record received media
	// (a directory or rtp://127.0.0.1:PORT); empty: counted only.
	SettingAutoRecord = "calls.auto_record"
)

// AccountSettings are the settings that belong to the account and are
// replicated to all its devices (and carried in the account archive).
// Others (calls.auto_answer) are per device.
var AccountSettings = []string{SettingAllowNonContacts}
