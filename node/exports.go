package node

import (
	"github.com/parleyhq/parley/node/account"
	"github.com/parleyhq/parley/node/calls"
	"github.com/parleyhq/parley/node/conference"
	"github.com/parleyhq/parley/node/contacts"
	"github.com/parleyhq/parley/node/devices"
	"github.com/parleyhq/parley/node/link"
	"github.com/parleyhq/parley/node/presence"
	"github.com/parleyhq/parley/node/service"
)

// The names below are the services' own, re-exported so that the daemon,
// the local API and the tools reach a device through one package. Each is
// documented where it is defined.

// Account and identity (package account).
type (
	Identity       = account.Identity
	AccountOptions = account.AccountOptions
)

// Account operations on a data directory (package account).
var (
	InitAccount    = account.InitAccount
	RestoreAccount = account.RestoreAccount
	ExportAccount  = account.ExportAccount
	OpenStore      = account.OpenStore
	Summary        = account.Summary
	LoadIdentity   = account.LoadIdentity
)

// Files next to the store (package account).
const (
	AccountCertFile = account.AccountCertFile
	DeviceCertFile  = account.DeviceCertFile
)

// Linking a new device (package link).
type (
	LinkOptions = link.LinkOptions
	LinkRequest = link.LinkRequest
	LinkEvent   = link.LinkEvent
	LinkCode    = link.LinkCode
)

// NewLinkRequest starts linking a new device (package link).
var NewLinkRequest = link.NewLinkRequest

// Link event kinds and defaults (package link).
const (
	LinkEventSAS        = link.LinkEventSAS
	LinkEventFailed     = link.LinkEventFailed
	DefaultLinkAttempts = link.DefaultLinkAttempts
)

// SettingKey names a setting (package service).
type SettingKey = service.SettingKey

// Settings (package service) and conference defaults (package conference).
const (
	SettingAutoAnswer       = service.SettingAutoAnswer
	SettingAllowNonContacts = service.SettingAllowNonContacts
	SettingAutoRecord       = service.SettingAutoRecord
	DefaultConferenceMax    = conference.DefaultConferenceMax
)

// Protocol IDs of the services.
const (
	ContactProtocol     = contacts.ContactProtocol
	SyncProtocol        = devices.SyncProtocol
	LinkProtocol        = link.LinkProtocol
	CallProtocol        = calls.CallProtocol
	CallControlProtocol = calls.CallControlProtocol
	ConferenceProtocol  = conference.ConferenceProtocol
)

// Sentinel errors, each the service's own value (errors.Is matches either
// name).
var (
	ErrIdentityExists   = account.ErrIdentityExists
	ErrInvalidInput     = account.ErrInvalidInput
	ErrConflict         = service.ErrConflict
	ErrNotFound         = presence.ErrNotFound
	ErrNoContact        = contacts.ErrNoContact
	ErrNoSuchCall       = calls.ErrNoSuchCall
	ErrUnreachable      = calls.ErrUnreachable
	ErrNoSuchConference = conference.ErrNoSuchConference
	ErrConferenceFull   = conference.ErrConferenceFull
	ErrLinkExpired      = link.ErrLinkExpired
	ErrLinkUsed         = link.ErrLinkUsed
	ErrLinkInUse        = link.ErrLinkInUse
	ErrLinkAttempts     = link.ErrLinkAttempts
	ErrLinkProof        = link.ErrLinkProof
	ErrLinkSAS          = link.ErrLinkSAS
	ErrLinkRefused      = link.ErrLinkRefused
	ErrLinkUnreachable  = link.ErrLinkUnreachable
	ErrLinkWrongAccount = link.ErrLinkWrongAccount
	ErrNotAdmin         = account.ErrNotAdmin
	ErrNoLinkSession    = link.ErrNoLinkSession
	ErrDeviceRevoked    = devices.ErrDeviceRevoked
	ErrUnknownDevice    = devices.ErrUnknownDevice
)
